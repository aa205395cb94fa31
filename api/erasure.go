package api

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/hearro/trustbroker/broker"
)

// erasureResponse is the status of an identity's erasure at the contact centre.
type erasureResponse struct {
	Status      broker.ErasureStatus `json:"status"`
	Attempts    int                  `json:"attempts"`
	LastError   string               `json:"last_error,omitempty"`
	RequestedAt time.Time            `json:"requested_at"`
	CompletedAt *time.Time           `json:"completed_at"`
}

// erasureStatus: GET /v1/identities/{id}/erasure.
func (s *server) erasureStatus(c echo.Context) error {
	e, err := s.broker.ErasureStatus(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, erasureResponse{Status: e.Status, Attempts: e.Attempts, LastError: e.LastError,
		RequestedAt: e.RequestedAt, CompletedAt: optionalTime(e.CompletedAt)})
}
