package api

import (
	"bytes"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/hearro/trustbroker/api/web"
)

// chatPage serves the customer's chat page. With the Twilio emulator mounted (development) the
// page chats through the emulator's Conversations API; otherwise through Twilio's SDK.
func (s *server) chatPage(c echo.Context) error {
	page := web.Page{Chat: web.ChatTwilio}
	if s.cfg.Twilio != nil {
		page = web.Page{Chat: web.ChatEmulator, EmulatorPath: "/_twilio"}
	}
	var buf bytes.Buffer
	if err := web.Render(&buf, page); err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set("Content-Security-Policy", web.ContentSecurityPolicy(page.Chat))
	setPageHeaders(h)
	return c.HTMLBlob(http.StatusOK, buf.Bytes())
}

// chatAsset serves the page's scripts, styles and images. They are revalidated on each use
// (ETag), so a new binary's page never runs an old script.
func (s *server) chatAsset(c echo.Context) error {
	a, ok := web.LookupAsset(c.Param("file"))
	if !ok {
		return problem(http.StatusNotFound, "not_found", "no such asset")
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, a.ContentType)
	h.Set("ETag", a.ETag)
	setPageHeaders(h)
	http.ServeContent(c.Response(), c.Request(), a.Name, time.Time{}, bytes.NewReader(a.Data))
	return nil
}

func setPageHeaders(h http.Header) {
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}
