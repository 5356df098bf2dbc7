package app

import (
	"encoding/base64"
	"fmt"
	"html/template"

	qrcode "github.com/skip2/go-qrcode"
)

// qrDataURL renders text as a QR code, a 256-pixel PNG with medium error recovery, in a data:
// URL for an <img> (the Content-Security-Policy allows img-src data:). It fails when the text
// is too long for a QR code.
func qrDataURL(text string) (template.URL, error) {
	png, err := qrcode.Encode(text, qrcode.Medium, 256)
	if err != nil {
		return "", fmt.Errorf("qr code: %w", err)
	}
	// The URL is built here from our own PNG bytes, so it is safe to mark as trusted.
	return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png)), nil
}
