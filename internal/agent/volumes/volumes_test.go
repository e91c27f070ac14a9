package volumes

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"skiff.dev/skiff/internal/agent/runtime"
)

// store is a Getter over objects the test can change.
type store struct {
	mu         sync.Mutex
	configMaps map[string]*corev1.ConfigMap
	secrets    map[string]*corev1.Secret
}

func (s *store) ConfigMap(ns, name string) (*corev1.ConfigMap, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cm, ok := s.configMaps[ns+"/"+name]; ok {
		return cm.DeepCopy(), nil
	}
	return nil, apierrors.NewNotFound(corev1.Resource("configmaps"), name)
}

func (s *store) Secret(ns, name string) (*corev1.Secret, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sec, ok := s.secrets[ns+"/"+name]; ok {
		return sec.DeepCopy(), nil
	}
	return nil, apierrors.NewNotFound(corev1.Resource("secrets"), name)
}

func (s *store) putConfigMap(ns, name string, data map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.configMaps[ns+"/"+name] = &corev1.ConfigMap{Data: data}
}

type tokens struct{}

func (tokens) Token(_ context.Context, pod *corev1.Pod, audience string, exp int64) (string, error) {
	return "token-for-" + pod.Name + "-" + audience, nil
}

func newTestManager(t *testing.T) (*Manager, *store) {
	t.Helper()
	s := &store{configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}}
	s.putConfigMap("ns", "cfg", map[string]string{"app.conf": "a=1", "mode": "fast"})
	s.configMaps["ns/cfg"].BinaryData = map[string][]byte{"blob": {0, 1, 2}}
	s.secrets["ns/db"] = &corev1.Secret{Data: map[string][]byte{"password": []byte("s3cret"), "user": []byte("admin")}}
	m := New(Config{Root: t.TempDir(), Getter: s, Tokens: tokens{},
		Allocatable: corev1.ResourceList{"memory": resource.MustParse("1Gi"), "cpu": resource.MustParse("2")}})
	return m, s
}

func volPod(vols ...corev1.Volume) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "uid-1", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Volumes: vols, Containers: []corev1.Container{{
			Name: "main", Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{"memory": resource.MustParse("256Mi")}},
		}}},
	}
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mode(t *testing.T, p string) os.FileMode {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode()
}

func gid(t *testing.T, p string) uint32 {
	t.Helper()
	st, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Sys().(*syscall.Stat_t).Gid
}

func tearDown(t *testing.T, m *Manager, uid types.UID) {
	t.Cleanup(func() {
		if err := m.TearDown(uid); err != nil {
			t.Error(err)
		}
	})
}

func TestEmptyDirDisk(t *testing.T) {
	m, _ := newTestManager(t)
	pod := volPod(corev1.Volume{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	pod.Spec.SecurityContext = &corev1.PodSecurityContext{FSGroup: ptr.To[int64](2000)}
	if err := m.SetUp(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(m.PodDir("uid-1"), "volumes/kubernetes.io~empty-dir/scratch")
	if got := mode(t, dir); got.Perm() != 0o777 || got&os.ModeSetgid == 0 || gid(t, dir) != 2000 {
		t.Fatalf("mode %v gid %d", got, gid(t, dir))
	}
	os.WriteFile(filepath.Join(dir, "kept"), []byte("x"), 0o600)
	if err := m.SetUp(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	if read(t, filepath.Join(dir, "kept")) != "x" {
		t.Fatal("SetUp again lost the pod's data")
	}
	if err := m.TearDown("uid-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(m.PodDir("uid-1")); !os.IsNotExist(err) {
		t.Fatalf("pod dir left: %v", err)
	}
}

func TestEmptyDirMemory(t *testing.T) {
	tests := []struct {
		name      string
		sizeLimit *resource.Quantity
		want      string
	}{
		{"size limit", ptr.To(resource.MustParse("1Mi")), "size=1024k"},
		{"pod memory limit", nil, "size=262144k"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := newTestManager(t)
			pod := volPod(corev1.Volume{Name: "mem", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: tc.sizeLimit}}})
			if err := m.SetUp(context.Background(), pod); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(m.PodDir("uid-1"), "volumes/kubernetes.io~empty-dir/mem")
			info := mountLine(t, dir)
			if !strings.Contains(info, " - tmpfs ") || !strings.Contains(info, tc.want) {
				t.Fatalf("mount %q, want tmpfs with %s", info, tc.want)
			}
			if mode(t, dir).Perm() != 0o777 {
				t.Fatalf("mode %v", mode(t, dir))
			}
			if err := m.SetUp(context.Background(), pod); err != nil { // no second mount
				t.Fatal(err)
			}
			if mps, _ := mountPoints(dir); len(mps) != 1 {
				t.Fatalf("mounts %v", mps)
			}
			if err := m.TearDown("uid-1"); err != nil {
				t.Fatal(err)
			}
			if mps, _ := mountPoints(m.PodDir("uid-1")); len(mps) != 0 {
				t.Fatalf("left mounted: %v", mps)
			}
		})
	}
	m, _ := newTestManager(t)
	m.cfg.NoTmpfs = true
	pod := volPod(corev1.Volume{Name: "mem", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}})
	if err := m.SetUp(context.Background(), pod); err == nil || !strings.Contains(err.Error(), `MountVolume.SetUp failed for volume "mem" : emptyDir medium Memory needs a tmpfs mount`) {
		t.Fatalf("NoTmpfs: %v", err)
	}
}

func mountLine(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 && f[4] == dir {
			return l
		}
	}
	t.Fatalf("%s is not mounted", dir)
	return ""
}

func TestHostPathTypes(t *testing.T) {
	tmp := t.TempDir()
	file := filepath.Join(tmp, "file")
	os.WriteFile(file, nil, 0o644)
	sock := filepath.Join(tmp, "s.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	tests := []struct {
		path    string
		typ     corev1.HostPathType
		err     string
		created string // "dir" or "file"
	}{
		{path: filepath.Join(tmp, "new/dir"), typ: corev1.HostPathDirectoryOrCreate, created: "dir"},
		{path: tmp, typ: corev1.HostPathDirectoryOrCreate},
		{path: file, typ: corev1.HostPathDirectoryOrCreate, err: "hostPath type check failed: " + file + " is not a directory"},
		{path: tmp, typ: corev1.HostPathDirectory},
		{path: file, typ: corev1.HostPathDirectory, err: "hostPath type check failed: " + file + " is not a directory"},
		{path: filepath.Join(tmp, "missing"), typ: corev1.HostPathDirectory, err: "is not a directory"},
		{path: filepath.Join(tmp, "sub/new.txt"), typ: corev1.HostPathFileOrCreate, created: "file"},
		{path: file, typ: corev1.HostPathFile},
		{path: tmp, typ: corev1.HostPathFile, err: "hostPath type check failed: " + tmp + " is not a file"},
		{path: sock, typ: corev1.HostPathSocket},
		{path: file, typ: corev1.HostPathSocket, err: "hostPath type check failed: " + file + " is not a socket file"},
		{path: "/dev/null", typ: corev1.HostPathCharDev},
		{path: file, typ: corev1.HostPathCharDev, err: "hostPath type check failed: " + file + " is not a character device"},
		{path: "/dev/null", typ: corev1.HostPathBlockDev, err: "hostPath type check failed: /dev/null is not a block device"},
		{path: file, typ: "Weird", err: "Weird is an invalid volume type"},
		{path: filepath.Join(tmp, "anything"), typ: corev1.HostPathUnset},
	}
	for _, tc := range tests {
		t.Run(string(tc.typ)+" "+filepath.Base(tc.path), func(t *testing.T) {
			m, _ := newTestManager(t)
			pod := volPod(corev1.Volume{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: tc.path, Type: &tc.typ}}})
			err := m.SetUp(context.Background(), pod)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.HasPrefix(err.Error(), `MountVolume.SetUp failed for volume "host" : `) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			switch tc.created {
			case "dir":
				if !mode(t, tc.path).IsDir() || mode(t, tc.path).Perm() != 0o755 {
					t.Fatalf("created %v", mode(t, tc.path))
				}
			case "file":
				if !mode(t, tc.path).IsRegular() {
					t.Fatalf("created %v", mode(t, tc.path))
				}
			}
			mounts, err := m.Mounts(pod, &corev1.Container{Name: "c", VolumeMounts: []corev1.VolumeMount{{Name: "host", MountPath: "/host"}}}, nil)
			if err != nil || len(mounts) != 1 || mounts[0].HostPath != tc.path || mounts[0].ReadOnly {
				t.Fatalf("mounts %+v %v", mounts, err)
			}
		})
	}
}

func TestConfigMapVolumeUpdates(t *testing.T) {
	m, s := newTestManager(t)
	pod := volPod(corev1.Volume{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, DefaultMode: ptr.To[int32](0o640),
	}}})
	if err := m.SetUp(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(m.PodDir("uid-1"), "volumes/kubernetes.io~configmap/cfg")
	if read(t, filepath.Join(dir, "app.conf")) != "a=1" || read(t, filepath.Join(dir, "blob")) != "\x00\x01\x02" {
		t.Fatal("contents")
	}
	if mode(t, filepath.Join(dir, "mode")).Perm() != 0o640 {
		t.Fatalf("mode %v", mode(t, filepath.Join(dir, "mode")))
	}
	// The layout upstream's AtomicWriter makes.
	if l, err := os.Readlink(filepath.Join(dir, "mode")); err != nil || l != "..data/mode" {
		t.Fatalf("user-visible link %q %v", l, err)
	}
	v1, err := os.Readlink(filepath.Join(dir, "..data"))
	if err != nil || !strings.HasPrefix(v1, "..20") {
		t.Fatalf("..data -> %q %v", v1, err)
	}

	// Unchanged: no new version.
	if err := m.SetUp(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	if v, _ := os.Readlink(filepath.Join(dir, "..data")); v != v1 {
		t.Fatal("rewrote an unchanged volume")
	}

	// An update reaches the same paths; a removed key goes away.
	s.putConfigMap("ns", "cfg", map[string]string{"app.conf": "a=2", "new": "n"})
	if err := m.SetUp(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	if read(t, filepath.Join(dir, "app.conf")) != "a=2" || read(t, filepath.Join(dir, "new")) != "n" {
		t.Fatal("update not visible")
	}
	for _, gone := range []string{"mode", "blob", v1} {
		if _, err := os.Lstat(filepath.Join(dir, gone)); !os.IsNotExist(err) {
			t.Fatalf("%s still there: %v", gone, err)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 4 { // ..data, one version, app.conf, new
		t.Fatalf("entries %v", entries)
	}
}

func TestProjectionErrorsAndOptions(t *testing.T) {
	cmVol := func(name string, optional bool, items ...corev1.KeyToPath) corev1.Volume {
		return corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: name}, Optional: ptr.To(optional), Items: items}}}
	}
	secVol := func(name string, optional bool, items ...corev1.KeyToPath) corev1.Volume {
		return corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: name, Optional: ptr.To(optional), Items: items}}}
	}
	tests := []struct {
		name  string
		vol   corev1.Volume
		err   string
		files map[string]string // path -> contents
		modes map[string]os.FileMode
	}{
		{name: "missing configmap", vol: cmVol("nope", false), err: `MountVolume.SetUp failed for volume "v" : configmap "nope" not found`},
		{name: "optional missing configmap", vol: cmVol("nope", true), files: map[string]string{}},
		{name: "items", vol: cmVol("cfg", false, corev1.KeyToPath{Key: "mode", Path: "sub/dir/m", Mode: ptr.To[int32](0o600)}),
			files: map[string]string{"sub/dir/m": "fast"}, modes: map[string]os.FileMode{"sub/dir/m": 0o600}},
		{name: "missing item key", vol: cmVol("cfg", false, corev1.KeyToPath{Key: "k", Path: "k"}), err: "configmap references non-existent config key: k"},
		{name: "optional missing item key", vol: cmVol("cfg", true, corev1.KeyToPath{Key: "k", Path: "k"}), files: map[string]string{}},
		{name: "bad item path", vol: cmVol("cfg", false, corev1.KeyToPath{Key: "mode", Path: "../x"}), err: "invalid path: must not contain '..': ../x"},
		{name: "secret", vol: secVol("db", false), files: map[string]string{"password": "s3cret", "user": "admin"}, modes: map[string]os.FileMode{"user": 0o644}},
		{name: "missing secret", vol: secVol("nope", false), err: `MountVolume.SetUp failed for volume "v" : secret "nope" not found`},
		{name: "missing secret key", vol: secVol("db", false, corev1.KeyToPath{Key: "k", Path: "k"}), err: "references non-existent secret key: k"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := newTestManager(t)
			pod := volPod(tc.vol)
			tearDown(t, m, "uid-1")
			err := m.SetUp(context.Background(), pod)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			dir, _, _ := m.Path(pod, &pod.Spec.Volumes[0])
			version, _ := filepath.EvalSymlinks(filepath.Join(dir, dataDirName))
			have, _ := regularFiles(version)
			if len(have) != len(tc.files) {
				t.Fatalf("files %v, want %v", have, tc.files)
			}
			for p, want := range tc.files {
				if got := read(t, filepath.Join(dir, p)); got != want {
					t.Fatalf("%s = %q, want %q", p, got, want)
				}
			}
			for p, want := range tc.modes {
				if got := mode(t, filepath.Join(dir, p)).Perm(); got != want {
					t.Fatalf("%s mode %v, want %v", p, got, want)
				}
			}
		})
	}
}

func TestSecretVolumeIsTmpfs(t *testing.T) {
	m, _ := newTestManager(t)
	tearDown(t, m, "uid-1")
	pod := volPod(corev1.Volume{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "db"}}})
	if err := m.SetUp(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	dir, ro, _ := m.Path(pod, &pod.Spec.Volumes[0])
	if !ro || !strings.Contains(mountLine(t, dir), " - tmpfs ") {
		t.Fatal("secret volume not on tmpfs")
	}
}

func TestDownwardAPIAndFSGroup(t *testing.T) {
	m, _ := newTestManager(t)
	tearDown(t, m, "uid-1")
	pod := volPod(corev1.Volume{Name: "info", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
		{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
		{Path: "name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}, Mode: ptr.To[int32](0o400)},
		{Path: "mem", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "main", Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}},
		{Path: "cpu", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "main", Resource: "limits.cpu"}},
	}}}})
	pod.Spec.SecurityContext = &corev1.PodSecurityContext{FSGroup: ptr.To[int64](3000)}
	if err := m.SetUp(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	dir, _, _ := m.Path(pod, &pod.Spec.Volumes[0])
	want := map[string]string{"labels": `app="web"`, "name": "web", "mem": "256", "cpu": "2"}
	for p, w := range want {
		if got := read(t, filepath.Join(dir, p)); got != w {
			t.Fatalf("%s = %q, want %q", p, got, w)
		}
	}
	// fsGroup: group-owned, group-readable (read-only volume: no write bit).
	if g := gid(t, filepath.Join(dir, "..data", "name")); g != 3000 {
		t.Fatalf("gid %d", g)
	}
	if got := mode(t, filepath.Join(dir, "name")).Perm(); got != 0o440 {
		t.Fatalf("name mode %v, want 0440", got)
	}
	if got := mode(t, filepath.Join(dir, "labels")).Perm(); got != 0o644 {
		t.Fatalf("labels mode %v, want 0644", got)
	}
	pod.Labels["tier"] = "front"
	if err := m.SetUp(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join(dir, "labels")); got != "app=\"web\"\ntier=\"front\"" {
		t.Fatalf("labels after update %q", got)
	}
}

func TestProjected(t *testing.T) {
	src := corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
		{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", Audience: "api"}},
		{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Items: []corev1.KeyToPath{{Key: "mode", Path: "ca.crt"}}}},
		{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}},
		{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "db"}, Items: []corev1.KeyToPath{{Key: "user", Path: "db/user"}}}},
	}}
	t.Run("all sources", func(t *testing.T) {
		m, _ := newTestManager(t)
		tearDown(t, m, "uid-1")
		pod := volPod(corev1.Volume{Name: "kube-api-access", VolumeSource: corev1.VolumeSource{Projected: &src}})
		pod.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](1000)}
		if err := m.SetUp(context.Background(), pod); err != nil {
			t.Fatal(err)
		}
		dir, _, _ := m.Path(pod, &pod.Spec.Volumes[0])
		for p, w := range map[string]string{"token": "token-for-web-api", "ca.crt": "fast", "namespace": "ns", "db/user": "admin"} {
			if got := read(t, filepath.Join(dir, p)); got != w {
				t.Fatalf("%s = %q", p, got)
			}
		}
		st, _ := os.Stat(filepath.Join(dir, "token"))
		if st.Mode().Perm() != 0o600 || st.Sys().(*syscall.Stat_t).Uid != 1000 {
			t.Fatalf("token mode %v uid %d, want 0600 owned by the pod's user", st.Mode(), st.Sys().(*syscall.Stat_t).Uid)
		}
		if mode(t, filepath.Join(dir, "namespace")).Perm() != 0o644 {
			t.Fatal("default mode")
		}
	})
	t.Run("no token source", func(t *testing.T) {
		m, _ := newTestManager(t)
		tearDown(t, m, "uid-1")
		m.cfg.Tokens = nil
		pod := volPod(corev1.Volume{Name: "kube-api-access", VolumeSource: corev1.VolumeSource{Projected: &src}})
		err := m.SetUp(context.Background(), pod)
		if err == nil || !strings.Contains(err.Error(), `serviceAccountToken projection for volume "kube-api-access": this agent cannot request service account tokens yet`) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestMounts(t *testing.T) {
	m, _ := newTestManager(t)
	tearDown(t, m, "uid-1")
	hostDir := t.TempDir()
	pod := volPod(
		corev1.Volume{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
		corev1.Volume{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		corev1.Volume{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: hostDir}}},
		corev1.Volume{Name: "pvc", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "c"}}},
	)
	pod.Spec.Volumes = pod.Spec.Volumes[:3]
	if err := m.SetUp(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	cfgDir, _, _ := m.Path(pod, &pod.Spec.Volumes[0])
	scratch, _, _ := m.Path(pod, &pod.Spec.Volumes[1])
	os.Symlink("/etc", filepath.Join(scratch, "escape"))
	env := []runtime.KeyValue{{Key: "POD_NAME", Value: "web"}, {Key: "EMPTY"}}
	htc := corev1.MountPropagationHostToContainer
	bidi := corev1.MountPropagationBidirectional
	bad := corev1.MountPropagationMode("Sideways")

	realConf, _ := filepath.EvalSymlinks(filepath.Join(cfgDir, "app.conf"))
	tests := []struct {
		name string
		vm   corev1.VolumeMount
		want runtime.Mount
		err  string
		dir  string // a directory the subPath must have created
	}{
		{name: "configmap is read-only", vm: corev1.VolumeMount{Name: "cfg", MountPath: "/etc/app"},
			want: runtime.Mount{ContainerPath: "/etc/app", HostPath: cfgDir, ReadOnly: true, Propagation: "private"}},
		{name: "subPath file of a configmap", vm: corev1.VolumeMount{Name: "cfg", MountPath: "/etc/app.conf", SubPath: "app.conf"},
			want: runtime.Mount{ContainerPath: "/etc/app.conf", HostPath: realConf, ReadOnly: true, Propagation: "private"}},
		{name: "emptyDir read-only by request", vm: corev1.VolumeMount{Name: "scratch", MountPath: "/data", ReadOnly: true, MountPropagation: &htc},
			want: runtime.Mount{ContainerPath: "/data", HostPath: scratch, ReadOnly: true, Propagation: "rslave"}},
		{name: "new subPath dir", vm: corev1.VolumeMount{Name: "scratch", MountPath: "/logs", SubPath: "a/b"},
			want: runtime.Mount{ContainerPath: "/logs", HostPath: filepath.Join(scratch, "a/b"), Propagation: "private"}, dir: filepath.Join(scratch, "a/b")},
		{name: "subPathExpr", vm: corev1.VolumeMount{Name: "scratch", MountPath: "/logs", SubPathExpr: "pods/$(POD_NAME)"},
			want: runtime.Mount{ContainerPath: "/logs", HostPath: filepath.Join(scratch, "pods/web"), Propagation: "private"}, dir: filepath.Join(scratch, "pods/web")},
		{name: "subPathExpr missing value", vm: corev1.VolumeMount{Name: "scratch", MountPath: "/logs", SubPathExpr: "$(NOPE)/$(EMPTY)"}, err: "missing value for EMPTY, NOPE"},
		{name: "hostPath bidirectional", vm: corev1.VolumeMount{Name: "host", MountPath: "/host", MountPropagation: &bidi},
			want: runtime.Mount{ContainerPath: "/host", HostPath: hostDir, Propagation: "rshared"}},
		{name: "absolute subPath", vm: corev1.VolumeMount{Name: "scratch", MountPath: "/x", SubPath: "/etc"}, err: "error SubPath `/etc` must not be an absolute path"},
		{name: "backsteps", vm: corev1.VolumeMount{Name: "scratch", MountPath: "/x", SubPath: "a/../../etc"}, err: "unable to provision SubPath `a/../../etc`: must not contain '..'"},
		{name: "symlink escape", vm: corev1.VolumeMount{Name: "scratch", MountPath: "/x", SubPath: "escape"}, err: `failed to prepare subPath for volumeMount "scratch" of container "main"`},
		{name: "symlink escape while creating", vm: corev1.VolumeMount{Name: "scratch", MountPath: "/x", SubPath: "escape/newdir"}, err: `failed to create subPath directory for volumeMount "scratch" of container "main"`},
		{name: "missing volume", vm: corev1.VolumeMount{Name: "nope", MountPath: "/x"}, err: `cannot find volume "nope" to mount into container "main"`},
		{name: "bad propagation", vm: corev1.VolumeMount{Name: "scratch", MountPath: "/x", MountPropagation: &bad}, err: `invalid MountPropagation mode: "Sideways"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &corev1.Container{Name: "main", VolumeMounts: []corev1.VolumeMount{tc.vm}}
			got, err := m.Mounts(pod, c, env)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || len(got) != 1 || got[0] != tc.want {
				t.Fatalf("got %+v %v\nwant %+v", got, err, tc.want)
			}
			if tc.dir != "" && (!mode(t, tc.dir).IsDir() || mode(t, tc.dir).Perm() != 0o777) {
				t.Fatalf("subPath dir mode %v", mode(t, tc.dir))
			}
		})
	}
	if _, err := os.Stat("/etc/newdir"); err == nil {
		t.Fatal("created a directory outside the volume")
	}
}

func TestUnsupportedVolume(t *testing.T) {
	m, _ := newTestManager(t)
	pod := volPod(corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "c"}}})
	if err := m.SetUp(context.Background(), pod); err == nil || !strings.Contains(err.Error(), `volume "data": volume type not supported by this agent`) {
		t.Fatalf("err = %v", err)
	}
}
