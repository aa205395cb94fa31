package didcomm

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	afglog "github.com/hyperledger/aries-framework-go/component/log"
	spilog "github.com/hyperledger/aries-framework-go/spi/log"
)

var routeOnce sync.Once

// RouteFrameworkLogs sends aries-framework-go's logs to l (process-wide; only the first call
// takes effect, as the library allows). The library's info messages become debug records, and
// the errors it logs for every healthy out-of-band connection are demoted to debug, so what
// remains at error level is worth reading.
func RouteFrameworkLogs(l *slog.Logger) {
	routeOnce.Do(func() {
		afglog.Initialize(provider{l})
		level := spilog.WARNING
		if l.Enabled(context.Background(), slog.LevelDebug) {
			level = spilog.DEBUG
		}
		afglog.SetLevel("", level)
	})
}

type provider struct{ l *slog.Logger }

func (p provider) GetLogger(module string) spilog.Logger {
	return frameworkLogger{l: p.l.With("component", "aries-framework-go", "module", module)}
}

type frameworkLogger struct{ l *slog.Logger }

// spurious are messages the library logs at error level on every successful out-of-band
// connection (it looks for attachments an invitation without requests never has).
var spurious = []string{
	"failed to load attachment handling state",
	"handleDIDEvent: ParentThreadID is empty",
}

func (f frameworkLogger) log(level slog.Level, msg string, args ...any) {
	text := fmt.Sprintf(msg, args...)
	if level == slog.LevelError {
		for _, s := range spurious {
			if strings.Contains(text, s) {
				level = slog.LevelDebug
				break
			}
		}
	}
	f.l.Log(context.Background(), level, text)
}

func (f frameworkLogger) Panicf(msg string, args ...any) {
	f.log(slog.LevelError, msg, args...)
	panic(fmt.Sprintf(msg, args...))
}

// Fatalf does not exit the process: no library gets to end the service.
func (f frameworkLogger) Fatalf(msg string, args ...any) { f.log(slog.LevelError, msg, args...) }
func (f frameworkLogger) Errorf(msg string, args ...any) { f.log(slog.LevelError, msg, args...) }
func (f frameworkLogger) Warnf(msg string, args ...any)  { f.log(slog.LevelWarn, msg, args...) }
func (f frameworkLogger) Infof(msg string, args ...any)  { f.log(slog.LevelDebug, msg, args...) }
func (f frameworkLogger) Debugf(msg string, args ...any) { f.log(slog.LevelDebug, msg, args...) }
