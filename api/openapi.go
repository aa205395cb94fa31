package api

import (
	_ "embed"
	"net/http"

	"github.com/labstack/echo/v4"
)

// OpenAPI is the API's OpenAPI 3.1 document: written first, served at /openapi.yaml, and
// checked against the routes the server registers and the responses it sends (see tests).
//
//go:embed openapi.yaml
var OpenAPI []byte

func (s *server) openAPI(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "public, max-age=300")
	return c.Blob(http.StatusOK, "application/yaml", OpenAPI)
}
