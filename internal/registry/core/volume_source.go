package core

import (
	"reflect"

	corev1 "k8s.io/api/core/v1"
)

// volumeSourceCount counts the sources set in a volume source: a volume
// must have exactly one (none is defaulted to emptyDir).
func volumeSourceCount(src *corev1.VolumeSource) int {
	v := reflect.ValueOf(src).Elem()
	n := 0
	for i := 0; i < v.NumField(); i++ {
		if f := v.Field(i); f.Kind() == reflect.Pointer && !f.IsNil() {
			n++
		}
	}
	return n
}
