package app_test

import (
	"testing"

	"wiregui/store/storetest"
)

// TestMain stops the PostgreSQL cluster that the tests on both databases start.
func TestMain(m *testing.M) { storetest.Main(m) }
