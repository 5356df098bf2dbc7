package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// MailSettings are the SMTP settings admins save on the Settings page. Each is unset when
// empty (Port: 0), and a WG_SMTP_* variable of the server's environment overrides it
// (app/mail resolves them). The password is encrypted at rest.
type MailSettings struct {
	Host     string
	Port     int
	Username string
	Password string // plaintext in memory only
	From     string
	TLS      string // "starttls", "tls" or "none"
}

const mailColumns = `smtp_host, smtp_port, smtp_username, smtp_password, smtp_from, smtp_tls`

// MailSettings returns the saved SMTP settings.
func (s *Store) MailSettings(ctx context.Context) (MailSettings, error) {
	return s.mailSettings(ctx, s.read)
}

func (s *Store) mailSettings(ctx context.Context, q queryer) (MailSettings, error) {
	var m MailSettings
	var sealed string
	err := q.QueryRowContext(ctx, `SELECT `+mailColumns+` FROM configuration WHERE id = 1`).Scan(
		&m.Host, &m.Port, &m.Username, &sealed, &m.From, &m.TLS)
	if errors.Is(err, sql.ErrNoRows) {
		return MailSettings{}, nil
	}
	if err != nil {
		return MailSettings{}, fmt.Errorf("mail settings: %w", err)
	}
	if m.Password, err = s.seal.open(sealed); err != nil {
		return MailSettings{}, fmt.Errorf("smtp password: %w", err)
	}
	return m, nil
}

// UpdateMailSettings changes the SMTP settings in one transaction: fn edits the saved ones.
func (s *Store) UpdateMailSettings(ctx context.Context, fn func(*MailSettings) error) (MailSettings, error) {
	var m MailSettings
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		if m, err = s.mailSettings(ctx, tx); err != nil {
			return err
		}
		if err := fn(&m); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO configuration (id, created_at, updated_at, `+mailColumns+`)
			VALUES (1, $1, $1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (id) DO UPDATE SET updated_at = $1, smtp_host = $2, smtp_port = $3, smtp_username = $4,
			smtp_password = $5, smtp_from = $6, smtp_tls = $7`,
			now(), m.Host, m.Port, m.Username, s.seal.seal(m.Password), m.From, m.TLS)
		if err != nil {
			return fmt.Errorf("update mail settings: %w", err)
		}
		return nil
	})
	return m, err
}
