package settings

// Argo CD v3.2.12 as published on the module proxy calls
// settings.ValidateExternalURL (controller/cache/info.go) without defining
// it, so the module does not compile. tests/cluster/build-gitops adds this
// file to its copy of util/settings: a link annotation is accepted when it
// is an absolute http or https URL, which is what that caller guards
// against (javascript:, data: and the like).

import (
	"fmt"
	"net/url"
)

// ValidateExternalURL reports whether raw is an absolute http(s) URL.
func ValidateExternalURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http or https URL", raw)
	}
	return nil
}
