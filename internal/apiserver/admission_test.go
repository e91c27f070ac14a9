package apiserver

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"skiff.dev/skiff/internal/admission"
)

// recordingPlugin labels configmaps on create and update, refuses
// configmaps named "refused" (and their deletion once labelled keep=yes),
// warns on every admitted create, and records what it saw.
type recordingPlugin struct {
	mu  sync.Mutex
	ops []string
}

func (p *recordingPlugin) Name() string { return "Recording" }

func (p *recordingPlugin) record(phase string, a *admission.Attributes) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ops = append(p.ops, phase+" "+string(a.Operation)+" "+a.Resource.Resource+"/"+a.Subresource+" "+a.Name+" "+a.User.Name)
}

func (p *recordingPlugin) seen() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.ops)
}

func (p *recordingPlugin) Admit(_ context.Context, a *admission.Attributes) error {
	p.record("admit", a)
	if cm, ok := a.Object.(*corev1.ConfigMap); ok {
		if cm.Labels == nil {
			cm.Labels = map[string]string{}
		}
		cm.Labels["admitted"] = "true"
	}
	return nil
}

func (p *recordingPlugin) Validate(_ context.Context, a *admission.Attributes) error {
	p.record("validate", a)
	switch {
	case a.Name == "refused":
		return errors.New("names like that are not allowed")
	case a.Operation == admission.Delete && a.OldObject.(interface{ GetLabels() map[string]string }).GetLabels()["keep"] == "yes":
		return apierrors.NewForbidden(a.GroupResource(), a.Name, errors.New("kept"))
	case a.Operation == admission.Create:
		a.AddWarning("admitted by Recording")
	}
	return nil
}

type warningList struct{ msgs []string }

func (w *warningList) HandleWarningHeader(_ int, _ string, msg string) { w.msgs = append(w.msgs, msg) }

func TestAdmissionChain(t *testing.T) {
	plugin := &recordingPlugin{}
	f := newFixture(t, func(c *Config) { c.Admission = admission.NewChain(plugin) })
	ctx := context.Background()

	warnings := &warningList{}
	cfg := rest.CopyConfig(f.admin)
	cfg.WarningHandler = warnings
	c := kubernetes.NewForConfigOrDie(cfg)

	cm, err := c.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "a"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cm.Labels["admitted"] != "true" {
		t.Errorf("create: mutation not stored: labels %v", cm.Labels)
	}
	if !slices.Contains(warnings.msgs, "admitted by Recording") {
		t.Errorf("warnings = %q, want the plug-in's", warnings.msgs)
	}

	cm.Labels = map[string]string{"keep": "yes"}
	cm, err = c.CoreV1().ConfigMaps("default").Update(ctx, cm, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cm.Labels["admitted"] != "true" || cm.Labels["keep"] != "yes" {
		t.Errorf("update: labels %v", cm.Labels)
	}

	_, err = c.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "refused"}}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("refused create: err = %v, want Forbidden", err)
	}
	if want := `configmaps "refused" is forbidden: Recording: names like that are not allowed`; err.Error() != want {
		t.Errorf("refused create: %q, want %q", err, want)
	}
	if _, err := c.CoreV1().ConfigMaps("default").Get(ctx, "refused", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("refused configmap was stored: %v", err)
	}

	if err := c.CoreV1().ConfigMaps("default").Delete(ctx, "a", metav1.DeleteOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("refused delete: err = %v, want Forbidden", err)
	}

	want := []string{
		"admit CREATE configmaps/ a admin",
		"validate CREATE configmaps/ a admin",
		"admit UPDATE configmaps/ a admin",
		"validate UPDATE configmaps/ a admin",
		"admit CREATE configmaps/ refused admin",
		"validate CREATE configmaps/ refused admin",
		"validate DELETE configmaps/ a admin",
	}
	var got []string
	for _, op := range plugin.seen() {
		if !slices.Contains([]string{"admit CREATE namespaces/ default admin"}, op) {
			got = append(got, op)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("plug-in saw\n%q\nwant\n%q", got, want)
	}
}
