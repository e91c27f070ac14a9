package eventsv1

import (
	"context"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var fixedNow = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func keys(errs field.ErrorList) string {
	var out []string
	for _, e := range errs {
		out = append(out, string(e.Type)+" "+e.Field)
	}
	sort.Strings(out)
	return strings.Join(out, "; ")
}

func newEvent() *eventsv1.Event {
	return &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: "web-1.17a", Namespace: "default"},
		EventTime:           metav1.NewMicroTime(fixedNow.Add(-2 * time.Minute)),
		ReportingController: "skiff.dev/scheduler",
		ReportingInstance:   "scheduler-node-1",
		Action:              "Binding",
		Reason:              "Scheduled",
		Regarding:           corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web-1"},
		Note:                "Successfully assigned default/web-1 to node-1",
		Type:                corev1.EventTypeNormal,
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*eventsv1.Event)
		want   string
	}{
		{"valid", func(*eventsv1.Event) {}, ""},
		{"no eventTime", func(e *eventsv1.Event) { e.EventTime = metav1.MicroTime{} }, "FieldValueRequired eventTime"},
		{"bad type", func(e *eventsv1.Event) { e.Type = "Info" }, "FieldValueInvalid type"},
		{"deprecated fields set", func(e *eventsv1.Event) {
			e.DeprecatedCount = 3
			e.DeprecatedSource = corev1.EventSource{Component: "kubelet"}
			e.DeprecatedFirstTimestamp = metav1.NewTime(fixedNow)
		}, "FieldValueInvalid count; FieldValueInvalid firstTimestamp; FieldValueInvalid source"},
		{"reporting fields", func(e *eventsv1.Event) {
			e.ReportingController = ""
			e.ReportingInstance = strings.Repeat("i", 129)
			e.Action = ""
			e.Note = strings.Repeat("n", 1025)
		}, "FieldValueInvalid message; FieldValueInvalid reportingController; FieldValueInvalid reportingController; FieldValueInvalid reportingInstance; FieldValueRequired action; FieldValueRequired reportingController"},
		{"cluster object in another namespace", func(e *eventsv1.Event) {
			e.Regarding = corev1.ObjectReference{Kind: "Node", Name: "node-1"}
			e.Namespace = "apps"
		}, "FieldValueInvalid involvedObject.namespace"},
		{"series", func(e *eventsv1.Event) { e.Series = &eventsv1.EventSeries{Count: 1} }, "FieldValueInvalid series.count; FieldValueRequired series.lastObservedTime"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEvent()
			tc.mutate(e)
			if got := keys(eventStrategy{}.Validate(context.Background(), e)); got != tc.want {
				t.Fatalf("errors = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestValidateUpdate(t *testing.T) {
	old := newEvent()
	e := old.DeepCopy()
	e.Series = &eventsv1.EventSeries{Count: 2, LastObservedTime: metav1.NewMicroTime(fixedNow)}
	e.EventTime = metav1.NewMicroTime(old.EventTime.Add(300 * time.Nanosecond))
	if errs := (eventStrategy{}).ValidateUpdate(context.Background(), e, old); len(errs) != 0 {
		t.Fatalf("series update: %v", errs)
	}
	e.Note = "changed"
	e.Reason = "Other"
	want := "FieldValueInvalid message; FieldValueInvalid reason; FieldValueInvalid reason"
	if got := keys(eventStrategy{}.ValidateUpdate(context.Background(), e, old)); got != want {
		t.Fatalf("errors = %q", got)
	}
}

func TestConversionRoundTrip(t *testing.T) {
	e := newEvent()
	e.Series = &eventsv1.EventSeries{Count: 4, LastObservedTime: metav1.NewMicroTime(fixedNow)}
	e.Related = &corev1.ObjectReference{Kind: "Node", Name: "node-1"}
	e.DeprecatedCount = 2
	core := ToCore(e)
	if core.Message != e.Note || core.InvolvedObject.Name != "web-1" || core.Count != 2 || core.Series.Count != 4 || core.ReportingController != e.ReportingController {
		t.Fatalf("core = %+v", core)
	}
	back := FromCore(core)
	back.TypeMeta = e.TypeMeta
	if !reflect.DeepEqual(back, e) {
		t.Fatalf("round trip:\n got  %+v\n want %+v", back, e)
	}
}

func TestFieldsAndRow(t *testing.T) {
	s := eventStrategy{now: func() time.Time { return fixedNow }}
	e := newEvent()
	f := s.SelectableFields(e)
	if f["regarding.name"] != "web-1" || f["reportingController"] != "skiff.dev/scheduler" || f["type"] != "Normal" {
		t.Fatalf("fields = %v", f)
	}
	want := []interface{}{"2m", "Normal", "Scheduled", "pod/web-1", "", "skiff.dev/scheduler, scheduler-node-1",
		"Successfully assigned default/web-1 to node-1", "2m", int64(1), "web-1.17a"}
	if row := s.Row(e); !reflect.DeepEqual(row, want) {
		t.Fatalf("row = %#v", row)
	}
	e.Series = &eventsv1.EventSeries{Count: 5, LastObservedTime: metav1.NewMicroTime(fixedNow.Add(-10 * time.Second))}
	if row := s.Row(e); row[0] != "10s" || row[8] != int64(5) {
		t.Fatalf("series row = %#v", row)
	}
	if len(s.ColumnDefinitions()) != len(want) {
		t.Fatal("column count")
	}
}
