package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// healthcheckConfig is every setting of `hearro healthcheck`.
type healthcheckConfig struct {
	URL     string
	Timeout time.Duration
}

func newHealthcheckCmd() *cobra.Command {
	var cfg healthcheckConfig
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Exit 0 when the service at --url is ready (GET /readyz), 1 with the reason otherwise: a container probe",
		Long: `Ask a running service whether it is ready to take traffic (GET <url>/readyz, which checks
the store) and exit 0 if it is, or 1 with a one-line reason. Meant for container health
checks: the image has no shell or HTTP client of its own.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := healthcheck(cmd.Context(), cfg); err != nil {
				return &exitError{code: 1, err: err}
			}
			fmt.Fprintln(cmd.OutOrStdout(), "ready")
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.URL, "url", "http://localhost:8080", "root URL of the service to probe")
	f.DurationVar(&cfg.Timeout, "timeout", 3*time.Second, "how long to wait for the answer")
	withEnv(cmd, "HEARRO_HEALTHCHECK_")
	return cmd
}

// healthcheck returns nil if the service at cfg.URL answers GET /readyz with 200 within
// cfg.Timeout, or an error of one line saying why not.
func healthcheck(ctx context.Context, cfg healthcheckConfig) error {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--url %q: want the service's root URL, e.g. http://localhost:8080", cfg.URL)
	}
	if cfg.Timeout <= 0 {
		return fmt.Errorf("--timeout %s: must be positive", cfg.Timeout)
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	target := strings.TrimRight(cfg.URL, "/") + "/readyz"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fmt.Errorf("not ready: %w", err)
	}
	client := &http.Client{
		Timeout:       cfg.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is said once, below
		}
		return fmt.Errorf("not ready: GET %s: %v", target, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("not ready: GET %s: %s", target, resp.Status)
	}
	return nil
}
