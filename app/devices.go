package app

import (
	"errors"
	"net/http"

	"wiregui/store"
)

// devicesPage is the payload of the devices page.
type devicesPage struct {
	Devices []store.Device
	Created *CreatedDevice // set once, right after a device was created
}

func (s *Server) listDevices(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r)
	if !can(u, viewDevices, nil) {
		s.notFound(w, r)
		return
	}
	pd := s.page(r, "My Devices", "devices")
	s.renderDevicesPage(w, r, http.StatusOK, pd, nil)
}

func (s *Server) createDevice(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r)
	if !can(u, createOwnDevice, nil) {
		s.notFound(w, r)
		return
	}
	pd := s.page(r, "My Devices", "devices")
	pd.Form.Values["name"] = r.PostFormValue("name")
	created, err := s.devices.Create(r.Context(), NewDevice{UserID: u.ID, Name: r.PostFormValue("name")})
	var bad *InputError
	if errors.As(err, &bad) {
		pd.Form.Errors[bad.Field] = bad.Message
		if isHTMX(r) {
			s.renderFragment(w, r, http.StatusUnprocessableEntity, "devices", "device-form", pd)
			return
		}
		s.renderDevicesPage(w, r, http.StatusUnprocessableEntity, pd, nil)
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	pd.Form.Values = map[string]string{}
	if isHTMX(r) {
		pd.Data = devicesPage{Created: created}
		w.Header().Set(hxTrigger, "devices-changed")
		s.renderFragment(w, r, http.StatusOK, "devices", "device-created", pd)
		return
	}
	s.renderDevicesPage(w, r, http.StatusOK, pd, created)
}

func (s *Server) renderDevicesPage(w http.ResponseWriter, r *http.Request, status int, pd *PageData, created *CreatedDevice) {
	devices, err := s.store.ListDevicesByUser(r.Context(), currentUser(r).ID)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	pd.Data = devicesPage{Devices: devices, Created: created}
	s.renderPage(w, r, status, "devices", pd)
}
