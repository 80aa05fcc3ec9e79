package remoteaccess_test

import (
	"testing"

	"github.com/behorig/behorig/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }
