package api

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/hearro/trustbroker/broker"
)

// DefaultPageSize is the page size of listings that do not ask for one.
const DefaultPageSize = 50

type identityList struct {
	Items      []identityResponse `json:"items"`
	NextCursor string             `json:"next_cursor,omitempty"`
}

func toIdentityResponse(ident *broker.Identity) identityResponse {
	return identityResponse{
		ID: ident.ID, FlexIdentity: ident.FlexIdentity, HolderDID: ident.HolderDID, Issuer: ident.IssuerDID,
		CredentialType: ident.CredentialType, Claims: ident.Claims, Policy: ident.Policy, Assurance: ident.Assurance,
		ConnectionID: ident.ConnectionID, VerifiedAt: ident.VerifiedAt, ExpiresAt: optionalTime(ident.ExpiresAt), CreatedAt: ident.CreatedAt,
	}
}

// listIdentities: GET /v1/identities?claims.memberId=12345&issuer=…&credential_type=…
// &verified_since=…&verified_until=…&limit=…&cursor=…
func (s *server) listIdentities(c echo.Context) error {
	f, limit, cursor, err := parseIdentityQuery(c.QueryParams())
	if err != nil {
		return err
	}
	page, err := s.broker.ListIdentities(c.Request().Context(), f, cursor, limit)
	if err != nil {
		return err
	}
	out := identityList{Items: make([]identityResponse, 0, len(page.Items))}
	for _, ident := range page.Items {
		out.Items = append(out.Items, toIdentityResponse(ident))
	}
	if page.Next != "" {
		out.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(page.Next))
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, out)
}

// parseIdentityQuery turns the query string into a filter; anything it does not know is an
// error rather than silently ignored (a typo in a filter must not return everyone).
func parseIdentityQuery(q url.Values) (f broker.IdentityFilter, limit int, cursor string, err error) {
	limit = DefaultPageSize
	for key, vals := range q {
		if len(vals) != 1 {
			return f, 0, "", problem(http.StatusBadRequest, "invalid_filter", "query parameter %q is repeated", key)
		}
		v := vals[0]
		switch {
		case strings.HasPrefix(key, "claims."):
			name := strings.TrimPrefix(key, "claims.")
			if name == "" {
				return f, 0, "", problem(http.StatusBadRequest, "invalid_filter", "claims. needs a claim name, e.g. claims.memberId")
			}
			if f.Claims == nil {
				f.Claims = map[string]string{}
			}
			f.Claims[name] = v
		case key == "issuer":
			f.Issuer = v
		case key == "credential_type":
			f.CredentialType = v
		case key == "verified_since", key == "verified_until":
			t, perr := time.Parse(time.RFC3339, v)
			if perr != nil {
				return f, 0, "", problem(http.StatusBadRequest, "invalid_filter", "%s must be an RFC 3339 date-time", key)
			}
			if key == "verified_since" {
				f.VerifiedSince = t
			} else {
				f.VerifiedUntil = t
			}
		case key == "limit":
			n, perr := strconv.Atoi(v)
			if perr != nil || n < 1 || n > broker.MaxPageSize {
				return f, 0, "", problem(http.StatusBadRequest, "invalid_filter", "limit must be an integer from 1 to %d", broker.MaxPageSize)
			}
			limit = n
		case key == "cursor":
			b, derr := base64.RawURLEncoding.DecodeString(v)
			if derr != nil || len(b) == 0 {
				return f, 0, "", problem(http.StatusBadRequest, "invalid_cursor", "cursor is not one this API returned")
			}
			cursor = string(b)
		default:
			return f, 0, "", problem(http.StatusBadRequest, "invalid_filter", "unknown query parameter %q", key)
		}
	}
	return f, limit, cursor, nil
}

func (s *server) getIdentity(c echo.Context) error {
	ident, err := s.broker.Identity(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toIdentityResponse(ident))
}

func (s *server) identityByFlex(c echo.Context) error {
	ident, err := s.broker.IdentityByFlex(c.Request().Context(), c.Param("flex_identity"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toIdentityResponse(ident))
}

func (s *server) eraseIdentity(c echo.Context) error {
	if err := s.broker.EraseIdentity(c.Request().Context(), c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

type identityResponse struct {
	ID             string         `json:"id"`
	FlexIdentity   string         `json:"flex_identity"`
	HolderDID      string         `json:"holder_did"`
	Issuer         string         `json:"issuer"`
	CredentialType string         `json:"credential_type"`
	Claims         map[string]any `json:"claims"`
	Policy         string         `json:"policy"`
	Assurance      string         `json:"assurance"`
	ConnectionID   string         `json:"connection_id,omitempty"`
	VerifiedAt     time.Time      `json:"verified_at"`
	ExpiresAt      *time.Time     `json:"expires_at"`
	CreatedAt      time.Time      `json:"created_at"`
}

func optionalTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

type connectionList struct {
	Items []connectionResponse `json:"items"`
}

type connectionResponse struct {
	ID           string `json:"id"`
	State        string `json:"state"`
	TheirDID     string `json:"their_did"`
	TheirLabel   string `json:"their_label,omitempty"`
	InvitationID string `json:"invitation_id,omitempty"`
}

func (s *server) listConnections(c echo.Context) error {
	conns, err := s.broker.Connections(c.Request().Context())
	if err != nil {
		return err
	}
	out := connectionList{Items: make([]connectionResponse, 0, len(conns))}
	for _, x := range conns {
		out.Items = append(out.Items, connectionResponse{ID: x.ConnectionID, State: x.State, TheirDID: x.TheirDID, TheirLabel: x.TheirLabel, InvitationID: x.InvitationID})
	}
	return c.JSON(http.StatusOK, out)
}

type verifyConnectionResponse struct {
	ID           string        `json:"id"`
	Status       broker.Status `json:"status"`
	Reason       string        `json:"reason,omitempty"`
	Policy       string        `json:"policy"`
	ConnectionID string        `json:"connection_id"`
	EventsURL    string        `json:"events_url"`
	ExpiresAt    time.Time     `json:"expires_at"`
	SessionToken string        `json:"session_token"`
}

// verifyConnection asks a returning customer for a fresh proof over their connection.
func (s *server) verifyConnection(c echo.Context) error {
	var req createSessionRequest
	if err := decodeOptionalJSON(c, &req); err != nil {
		return err
	}
	sess, err := s.broker.VerifyConnection(c.Request().Context(), c.Param("id"), req.Policy)
	if err != nil {
		return err
	}
	token, err := s.cfg.Tokens.Mint(sess.ID, sess.ExpiresAt)
	if err != nil {
		return err
	}
	base := s.cfg.PublicURL + "/v1/sessions/" + sess.ID
	c.Response().Header().Set(echo.HeaderLocation, base)
	return c.JSON(http.StatusCreated, verifyConnectionResponse{
		ID: sess.ID, Status: sess.Status, Reason: sess.Reason, Policy: sess.Policy, ConnectionID: sess.ConnectionID,
		EventsURL: base + "/events", ExpiresAt: sess.ExpiresAt, SessionToken: token,
	})
}
