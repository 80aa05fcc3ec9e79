package remoteaccess_test

import (
	"testing"

	"github.com/behorig/behorig/internal/testenv"
)

// The tests of this package share the real servers internal/testenv starts.
func TestMain(m *testing.M) { testenv.Main(m) }
