package noderesources

import (
	"context"
	"reflect"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"skiff.dev/skiff/internal/scheduler/framework"
)

func rl(kv ...string) v1.ResourceList {
	out := v1.ResourceList{}
	for i := 0; i+1 < len(kv); i += 2 {
		out[v1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return out
}

func pod(uid string, requests v1.ResourceList, init ...v1.ResourceList) *framework.PodInfo {
	p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{UID: types.UID(uid)}, Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Resources: v1.ResourceRequirements{Requests: requests}}}}}
	for _, r := range init {
		p.Spec.InitContainers = append(p.Spec.InitContainers, v1.Container{Name: "i", Resources: v1.ResourceRequirements{Requests: r}})
	}
	return framework.NewPodInfo(p, 0)
}

func node(alloc v1.ResourceList, pods ...*framework.PodInfo) *framework.NodeInfo {
	n := framework.NewNodeInfo(&v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"}, Status: v1.NodeStatus{Allocatable: alloc}})
	for _, p := range pods {
		n.AddPod(p)
	}
	return n
}

func TestFitFilter(t *testing.T) {
	alloc := rl("cpu", "2", "memory", "4Gi", "pods", "2", "example.com/gpu", "1")
	tests := []struct {
		name    string
		pod     *framework.PodInfo
		node    *framework.NodeInfo
		code    framework.Code
		reasons []string
	}{
		{"fits", pod("p", rl("cpu", "1")), node(alloc, pod("a", rl("cpu", "1"))), framework.Success, nil},
		{"insufficient cpu", pod("p", rl("cpu", "1500m")), node(alloc, pod("a", rl("cpu", "1"))), framework.Unschedulable, []string{"Insufficient cpu"}},
		{"larger than the node", pod("p", rl("cpu", "3")), node(alloc), framework.UnschedulableAndUnresolvable, []string{"Insufficient cpu"}},
		{"init container max counts", pod("p", rl("cpu", "100m"), rl("cpu", "1500m")), node(alloc, pod("a", rl("cpu", "1"))), framework.Unschedulable, []string{"Insufficient cpu"}},
		{"too many pods and memory", pod("p", rl("memory", "3Gi")), node(alloc, pod("a", rl("memory", "2Gi")), pod("b", nil)), framework.Unschedulable, []string{"Too many pods", "Insufficient memory"}},
		{"best effort only counts pods", pod("p", nil), node(alloc, pod("a", rl("cpu", "2"))), framework.Success, nil},
		{"extended resource", pod("p", rl("example.com/gpu", "1")), node(alloc, pod("a", rl("example.com/gpu", "1"))), framework.Unschedulable, []string{"Insufficient example.com/gpu"}},
		{"extended resource the node lacks", pod("p", rl("example.com/fpga", "1")), node(alloc), framework.UnschedulableAndUnresolvable, []string{"Insufficient example.com/fpga"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := Fit{}.Filter(context.Background(), nil, tt.pod, tt.node)
			if st.Code() != tt.code || !reflect.DeepEqual(st.Reasons(), tt.reasons) {
				t.Fatalf("got %v %q, want %v %q", st.Code(), st.Reasons(), tt.code, tt.reasons)
			}
		})
	}
}

func TestScores(t *testing.T) {
	alloc := rl("cpu", "4", "memory", "8Gi")
	tests := []struct {
		name            string
		pod             *framework.PodInfo
		node            *framework.NodeInfo
		least, balanced int64
	}{
		{"empty node", pod("p", rl("cpu", "1", "memory", "2Gi")), node(alloc), 75, 75},
		{"half used", pod("p", rl("cpu", "1", "memory", "2Gi")), node(alloc, pod("a", rl("cpu", "1", "memory", "2Gi"))), 50, 75},
		{"pod evens the node out", pod("p", rl("cpu", "2")), node(alloc, pod("a", rl("memory", "4Gi"))), 47, 87},
		{"best effort uses defaults", pod("p", nil), node(alloc), 97, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, _ := (Fit{}).Score(context.Background(), nil, tt.pod, tt.node); got != tt.least {
				t.Errorf("least allocated = %d, want %d", got, tt.least)
			}
			if (BalancedAllocation{}).PreScore(context.Background(), nil, tt.pod, nil, nil).IsSkip() {
				return
			}
			if got, _ := (BalancedAllocation{}).Score(context.Background(), nil, tt.pod, tt.node); got != tt.balanced {
				t.Errorf("balanced = %d, want %d", got, tt.balanced)
			}
		})
	}
}
