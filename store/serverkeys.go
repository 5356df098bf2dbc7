package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// ServerKeys is the WireGuard key pair of the server interface.
type ServerKeys struct {
	PrivateKey string // base64, plaintext in memory; encrypted at rest
	PublicKey  string // base64
}

// ServerKeys returns the server's WireGuard key pair, or ErrNotFound before EnsureServerKeys ran.
func (s *Store) ServerKeys(ctx context.Context) (ServerKeys, error) {
	return s.serverKeys(ctx, s.read)
}

func (s *Store) serverKeys(ctx context.Context, q queryer) (ServerKeys, error) {
	var k ServerKeys
	var sealed string
	err := q.QueryRowContext(ctx, `SELECT server_private_key, server_public_key FROM configuration WHERE id = 1`).
		Scan(&sealed, &k.PublicKey)
	if errors.Is(err, sql.ErrNoRows) || err == nil && sealed == "" {
		return ServerKeys{}, fmt.Errorf("server keys: %w", ErrNotFound)
	}
	if err != nil {
		return ServerKeys{}, fmt.Errorf("server keys: %w", err)
	}
	if k.PrivateKey, err = s.seal.open(sealed); err != nil {
		return ServerKeys{}, fmt.Errorf("server private key: %w", err)
	}
	return k, nil
}

// EnsureServerKeys returns the stored server key pair, generating and storing one with generate
// the first time. The private key is stored encrypted.
func (s *Store) EnsureServerKeys(ctx context.Context, generate func() (ServerKeys, error)) (ServerKeys, error) {
	var keys ServerKeys
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		keys, err = s.serverKeys(ctx, tx)
		if !errors.Is(err, ErrNotFound) {
			return err
		}
		if keys, err = generate(); err != nil {
			return fmt.Errorf("generate server keys: %w", err)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO configuration (id, server_private_key, server_public_key, created_at, updated_at)
			VALUES (1, $1, $2, $3, $3)
			ON CONFLICT (id) DO UPDATE SET server_private_key = $1, server_public_key = $2, updated_at = $3`,
			s.seal.seal(keys.PrivateKey), keys.PublicKey, now())
		if err != nil {
			return fmt.Errorf("store server keys: %w", err)
		}
		return nil
	})
	return keys, err
}
