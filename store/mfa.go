package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"fmt"
	"time"
)

// The kinds of MFA method.
const (
	MFATOTP     = "totp"
	MFAWebAuthn = "webauthn"
)

// MFAMethod is one of a user's second factors: a TOTP authenticator or a WebAuthn credential
// (a security key or a passkey).
type MFAMethod struct {
	ID     string
	UserID string
	Kind   string // MFATOTP or MFAWebAuthn
	Name   string
	// Secret is a TOTP method's secret (base32), sealed at rest.
	Secret string
	// LastStep is the TOTP time step whose code was accepted last (0: none); a code of that
	// step or an earlier one is refused (UseTOTPStep).
	LastStep int64
	// CredentialID, Credential, SignCount and Discoverable are a WebAuthn method's: the
	// credential's id, its record as the WebAuthn library encodes it (public key, flags), the
	// authenticator's signature counter, and whether the credential is a passkey.
	CredentialID []byte
	Credential   string
	SignCount    uint32
	Discoverable bool
	CreatedAt    time.Time
	LastUsedAt   *time.Time
}

const mfaColumns = `id, user_id, kind, name, secret, totp_last_step, credential_id, credential, sign_count,
	discoverable, created_at, last_used_at`

func (s *Store) scanMFAMethod(row scanner) (MFAMethod, error) {
	var m MFAMethod
	var credID sql.NullString
	var signCount int64
	var used sql.NullTime
	if err := row.Scan(&m.ID, &m.UserID, &m.Kind, &m.Name, &m.Secret, &m.LastStep, &credID, &m.Credential,
		&signCount, &m.Discoverable, &m.CreatedAt, &used); err != nil {
		return MFAMethod{}, err
	}
	m.SignCount, m.LastUsedAt = uint32(signCount), timePtr(used)
	if credID.Valid {
		id, err := base64.RawURLEncoding.DecodeString(credID.String)
		if err != nil {
			return MFAMethod{}, fmt.Errorf("mfa method %s: credential id: %w", m.ID, err)
		}
		m.CredentialID = id
	}
	secret, err := s.seal.open(m.Secret)
	if err != nil {
		return MFAMethod{}, fmt.Errorf("mfa method %s: secret: %w", m.ID, err)
	}
	m.Secret = secret
	return m, nil
}

// credentialKey is how a WebAuthn credential id is stored and looked up: NULL for none.
func credentialKey(id []byte) sql.NullString {
	if len(id) == 0 {
		return sql.NullString{}
	}
	return sql.NullString{String: base64.RawURLEncoding.EncodeToString(id), Valid: true}
}

// CreateMFAMethod stores m, filling its ID and creation time. A credential id that is
// stored already (for anyone) is ErrConflict.
func (s *Store) CreateMFAMethod(ctx context.Context, m *MFAMethod) error {
	m.ID, m.CreatedAt = newID(), now()
	_, err := s.exec(ctx, `INSERT INTO mfa_methods (`+mfaColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		m.ID, m.UserID, m.Kind, m.Name, s.seal.seal(m.Secret), m.LastStep, credentialKey(m.CredentialID), m.Credential,
		int64(m.SignCount), m.Discoverable, m.CreatedAt, nullTime(m.LastUsedAt))
	if isUniqueViolation(err) {
		return fmt.Errorf("mfa method %s: %w", m.Name, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create mfa method: %w", err)
	}
	return nil
}

// MFAMethods returns the user's MFA methods, oldest first.
func (s *Store) MFAMethods(ctx context.Context, userID string) ([]MFAMethod, error) {
	scan := func(rows *sql.Rows) (MFAMethod, error) { return s.scanMFAMethod(rows) }
	list, err := queryRows(ctx, s.reads, nil, scan, `SELECT `+mfaColumns+` FROM mfa_methods WHERE user_id = $1
		ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, fmt.Errorf("mfa methods: %w", err)
	}
	return list, nil
}

// MFAMethodByCredential returns the WebAuthn method of a credential id, or ErrNotFound.
func (s *Store) MFAMethodByCredential(ctx context.Context, credentialID []byte) (*MFAMethod, error) {
	key := credentialKey(credentialID)
	m, err := s.scanMFAMethod(s.reads.QueryRowContext(ctx, `SELECT `+mfaColumns+` FROM mfa_methods
		WHERE credential_id = $1`, key))
	if err != nil {
		return nil, lookupError(err, "mfa credential", key.String)
	}
	return &m, nil
}

// UseTOTPStep records that a code of time step step was accepted for TOTP method id, at time
// at. It reports false, and changes nothing, when a code of that step or a later one was
// accepted before: the check and the write are one statement, so that of two uses of one
// code at the same moment exactly one succeeds.
func (s *Store) UseTOTPStep(ctx context.Context, id string, step int64, at time.Time) (bool, error) {
	res, err := s.exec(ctx, `UPDATE mfa_methods SET totp_last_step = $1, last_used_at = $2
		WHERE id = $3 AND kind = $4 AND totp_last_step < $1`, step, at.UTC(), id, MFATOTP)
	return oneRow(res, err, "use totp code")
}

// UseWebAuthn records a use of WebAuthn method id at time at, with the authenticator's new
// signature counter. It reports false, and changes nothing, when the counter stored is no
// longer was: another use of the method came first.
func (s *Store) UseWebAuthn(ctx context.Context, id string, was, count uint32, at time.Time) (bool, error) {
	res, err := s.exec(ctx, `UPDATE mfa_methods SET sign_count = $1, last_used_at = $2
		WHERE id = $3 AND kind = $4 AND sign_count = $5`, int64(count), at.UTC(), id, MFAWebAuthn, int64(was))
	return oneRow(res, err, "use webauthn credential")
}

// DeleteMFAMethod deletes the user's MFA method id; one that is not theirs is ErrNotFound.
// With their last method go their recovery codes: without a method they sign in with one
// factor, which a code does not replace.
func (s *Store) DeleteMFAMethod(ctx context.Context, userID, id string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM mfa_methods WHERE id = $1 AND user_id = $2`, id, userID)
		if err := expectOne(res, err, "delete mfa method", id); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_id = $1
			AND NOT EXISTS (SELECT 1 FROM mfa_methods WHERE user_id = $1)`, userID)
		if err != nil {
			return fmt.Errorf("delete recovery codes: %w", err)
		}
		return nil
	})
}

// ResetMFA deletes all of the user's MFA methods and recovery codes, and returns how many
// methods and unused codes there were.
func (s *Store) ResetMFA(ctx context.Context, userID string) (methods, codes int, err error) {
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL`,
			userID).Scan(&codes); err != nil {
			return fmt.Errorf("count recovery codes: %w", err)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM mfa_methods WHERE user_id = $1`, userID)
		if err != nil {
			return fmt.Errorf("delete mfa methods: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("delete mfa methods: %w", err)
		}
		methods = int(n)
		if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_id = $1`, userID); err != nil {
			return fmt.Errorf("delete recovery codes: %w", err)
		}
		return nil
	})
	return methods, codes, err
}

// SetRecoveryCodes replaces the user's recovery codes with the codes of hashes, in one
// transaction: the old codes stop working as the new ones start.
func (s *Store) SetRecoveryCodes(ctx context.Context, userID string, hashes []string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_id = $1`, userID); err != nil {
			return fmt.Errorf("delete recovery codes: %w", err)
		}
		at := now()
		for _, h := range hashes {
			if _, err := tx.ExecContext(ctx, `INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES ($1, $2, $3)`,
				userID, h, at); err != nil {
				return fmt.Errorf("add recovery code: %w", err)
			}
		}
		return nil
	})
}

// UseRecoveryCode marks the user's unused recovery code of hash used at time at. It reports
// false when the user has no such code or it was used: one statement checks and marks, so a
// code works once however many requests bring it at the same moment.
func (s *Store) UseRecoveryCode(ctx context.Context, userID, hash string, at time.Time) (bool, error) {
	res, err := s.exec(ctx, `UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL`,
		at.UTC(), userID, hash)
	return oneRow(res, err, "use recovery code")
}

// RecoveryCodesLeft returns how many unused recovery codes the user has.
func (s *Store) RecoveryCodesLeft(ctx context.Context, userID string) (int, error) {
	var n int
	if err := s.reads.QueryRowContext(ctx, `SELECT count(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL`,
		userID).Scan(&n); err != nil {
		return 0, fmt.Errorf("count recovery codes: %w", err)
	}
	return n, nil
}

// oneRow reports whether a conditional UPDATE changed its row.
func oneRow(res sql.Result, err error, what string) (bool, error) {
	if err != nil {
		return false, fmt.Errorf("%s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("%s: %w", what, err)
	}
	return n == 1, nil
}
