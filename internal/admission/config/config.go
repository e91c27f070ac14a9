// Package config reads upstream's admission configuration file, the
// --admission-control-config-file of kube-apiserver: an
// AdmissionConfiguration (apiserver.config.k8s.io/v1) listing, per
// plug-in, its configuration either embedded or in a file of its own:
//
//	apiVersion: apiserver.config.k8s.io/v1
//	kind: AdmissionConfiguration
//	plugins:
//	- name: PodSecurity
//	  configuration: {apiVersion: pod-security.admission.config.k8s.io/v1, kind: PodSecurityConfiguration, ...}
//	- name: EventRateLimit
//	  path: eventratelimit.yaml   # relative to this file
//
// The package only finds each plug-in's document; the plug-in parses it.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

// The apiVersions upstream reads an AdmissionConfiguration in.
var apiVersions = []string{"apiserver.config.k8s.io/v1", "apiserver.config.k8s.io/v1alpha1", "apiserver.k8s.io/v1alpha1"}

// File is a read admission configuration: each configured plug-in's
// document, as JSON.
type File struct {
	// Path is the file read.
	Path    string
	plugins map[string][]byte
}

// fileFormat is AdmissionConfiguration's shape.
type fileFormat struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Plugins    []struct {
		Name          string          `json:"name"`
		Path          string          `json:"path"`
		Configuration json.RawMessage `json:"configuration"`
	} `json:"plugins"`
}

// Load reads the AdmissionConfiguration at path and the files its
// entries point to. known lists the plug-ins that exist: an entry for any
// other name is an error, as is an unreadable or malformed file, a
// plug-in listed twice, or an entry with neither or both of
// configuration and path.
func Load(path string, known []string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("admission configuration: %w", err)
	}
	var ff fileFormat
	if err := yaml.UnmarshalStrict(data, &ff); err != nil {
		return nil, fmt.Errorf("admission configuration %s: %w", path, err)
	}
	if ff.Kind != "AdmissionConfiguration" || !slices.Contains(apiVersions, ff.APIVersion) {
		return nil, fmt.Errorf("admission configuration %s: kind %q, apiVersion %q: want an AdmissionConfiguration of %s", path, ff.Kind, ff.APIVersion, apiVersions[0])
	}
	f := &File{Path: path, plugins: map[string][]byte{}}
	var errs []error
	for i, p := range ff.Plugins {
		at := fmt.Sprintf("plugins[%d]", i)
		switch {
		case p.Name == "":
			errs = append(errs, fmt.Errorf("%s.name: required", at))
			continue
		case !slices.Contains(known, p.Name):
			errs = append(errs, fmt.Errorf("%s.name: admission plug-in %q is not known (known: %s)", at, p.Name, strings.Join(known, ", ")))
			continue
		case f.plugins[p.Name] != nil:
			errs = append(errs, fmt.Errorf("%s.name: plug-in %q is configured twice", at, p.Name))
			continue
		}
		embedded := len(p.Configuration) > 0 && string(p.Configuration) != "null"
		switch {
		case embedded && p.Path != "":
			errs = append(errs, fmt.Errorf("%s (%s): configuration and path are exclusive", at, p.Name))
		case embedded:
			f.plugins[p.Name] = p.Configuration
		case p.Path != "":
			file := p.Path
			if !filepath.IsAbs(file) {
				file = filepath.Join(filepath.Dir(path), file)
			}
			doc, err := os.ReadFile(file)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s (%s).path: %w", at, p.Name, err))
				continue
			}
			js, err := yaml.YAMLToJSON(doc)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s (%s).path %s: %w", at, p.Name, file, err))
				continue
			}
			f.plugins[p.Name] = js
		default:
			errs = append(errs, fmt.Errorf("%s (%s): one of configuration or path is required", at, p.Name))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("admission configuration %s: %w", path, err)
	}
	return f, nil
}

// Plugin returns the configuration document of plug-in name (JSON), and
// whether the file configures it. A nil File configures nothing.
func (f *File) Plugin(name string) ([]byte, bool) {
	if f == nil {
		return nil, false
	}
	doc, ok := f.plugins[name]
	return doc, ok
}

// Names lists the configured plug-ins, sorted.
func (f *File) Names() []string {
	if f == nil {
		return nil
	}
	names := make([]string, 0, len(f.plugins))
	for n := range f.plugins {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
