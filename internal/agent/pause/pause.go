// Package pause builds Skiff's pause image: the program that holds a pod
// sandbox's namespaces, packed as a one-layer OCI archive. containerd's CRI
// needs its sandbox image on the node, and a node without a registry
// cannot pull one, so the agent imports this image at start and points
// containerd's sandbox_image at it.
//
// The program is a 280-byte static x86-64 ELF, assembled here byte by byte
// so that building the image needs no toolchain at run time. It
//
//  1. exits 0 on SIGTERM and SIGINT (as PID 1 of its PID namespace it
//     would otherwise ignore them, because the kernel does not apply
//     default actions to a namespace's init),
//  2. ignores SIGCHLD, so the kernel reaps the zombies re-parented to it
//     when the pod shares its process namespace,
//  3. loops on pause(2).
package pause

import (
	"bytes"
	"encoding/binary"
	"fmt"
	goruntime "runtime"

	"skiff.dev/skiff/internal/agent/ociarchive"
)

// Image is the name of the pause image. Bump its tag when Program
// changes, so nodes that have the old one import the new one.
const Image = "skiff.dev/pause:1"

// Archive returns the pause image as an OCI archive for ctr/ImportImages.
func Archive() ([]byte, error) {
	if goruntime.GOARCH != "amd64" {
		return nil, fmt.Errorf("pause image: no pause program for %s (only amd64)", goruntime.GOARCH)
	}
	var buf bytes.Buffer
	err := ociarchive.Write(&buf, ociarchive.Image{
		Name: Image,
		Config: ociarchive.Config{
			Entrypoint: []string{"/pause"},
			User:       "65535:65535",
			// SIGKILL is what containerd sends when it stops a sandbox
			// anyway; say so, so other runtimes do not wait a grace
			// period for nothing.
			StopSignal: "SIGKILL",
		},
		Files: []ociarchive.File{{Path: "pause", Mode: 0o755, Data: Program()}},
	})
	if err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Linux x86-64 system call numbers and constants the program uses.
const (
	sysRtSigaction = 13
	sysPause       = 34
	sysExitGroup   = 231

	sigINT  = 2
	sigTERM = 15
	sigCHLD = 17

	saRestorer = 0x04000000
	sigIGN     = 1
)

// Layout of the program in memory: one PT_LOAD segment mapping the whole
// file at base.
const (
	base        = 0x400000
	ehdrSize    = 64
	phdrSize    = 56
	codeOff     = ehdrSize + phdrSize
	sigactLen   = 25 // bytes of one rt_sigaction call below
	loopLen     = 9
	exitLen     = 9
	exitOff     = codeOff + 3*sigactLen + loopLen
	actExitOff  = (exitOff + exitLen + 7) &^ 7
	actIgnOff   = actExitOff + 32
	programSize = actIgnOff + 32
)

// Program returns the pause program, a static x86-64 Linux ELF executable.
func Program() []byte {
	var code bytes.Buffer
	le := binary.LittleEndian
	u32 := func(v uint32) []byte { return le.AppendUint32(nil, v) }

	// rt_sigaction(sig, act, NULL, 8)
	sigaction := func(sig, act uint32) {
		code.WriteByte(0xB8) // mov eax, imm32
		code.Write(u32(sysRtSigaction))
		code.WriteByte(0xBF) // mov edi, imm32
		code.Write(u32(sig))
		code.WriteByte(0xBE) // mov esi, imm32 (addresses fit in 32 bits)
		code.Write(u32(act))
		code.Write([]byte{0x31, 0xD2}) // xor edx, edx
		code.Write([]byte{0x41, 0xBA}) // mov r10d, imm32
		code.Write(u32(8))             // sizeof(sigset_t)
		code.Write([]byte{0x0F, 0x05}) // syscall
	}
	sigaction(sigTERM, base+actExitOff)
	sigaction(sigINT, base+actExitOff)
	sigaction(sigCHLD, base+actIgnOff)

	// loop: pause(); goto loop
	code.WriteByte(0xB8) // mov eax, imm32
	code.Write(u32(sysPause))
	code.Write([]byte{0x0F, 0x05}) // syscall
	code.Write([]byte{0xEB, 0xF7}) // jmp rel8 -9

	// exit: exit_group(0). The SIGTERM/SIGINT handler; it never returns,
	// so the restorer x86-64 insists on is never used.
	code.Write([]byte{0x31, 0xFF}) // xor edi, edi
	code.WriteByte(0xB8)           // mov eax, imm32
	code.Write(u32(sysExitGroup))
	code.Write([]byte{0x0F, 0x05}) // syscall

	if code.Len() != exitOff+exitLen-codeOff {
		panic(fmt.Sprintf("pause: code is %d bytes, layout expects %d", code.Len(), exitOff+exitLen-codeOff))
	}

	out := make([]byte, programSize)
	// ELF header.
	copy(out, []byte{0x7F, 'E', 'L', 'F', 2 /* 64-bit */, 1 /* little endian */, 1 /* version */, 0 /* SysV ABI */})
	le.PutUint16(out[16:], 2)    // e_type: ET_EXEC
	le.PutUint16(out[18:], 0x3E) // e_machine: x86-64
	le.PutUint32(out[20:], 1)    // e_version
	le.PutUint64(out[24:], base+codeOff)
	le.PutUint64(out[32:], ehdrSize) // e_phoff
	le.PutUint16(out[52:], ehdrSize)
	le.PutUint16(out[54:], phdrSize)
	le.PutUint16(out[56:], 1) // e_phnum
	// Program header: PT_LOAD, R+X, the whole file at base.
	ph := out[ehdrSize:]
	le.PutUint32(ph[0:], 1)
	le.PutUint32(ph[4:], 5)
	le.PutUint64(ph[16:], base)
	le.PutUint64(ph[24:], base)
	le.PutUint64(ph[32:], programSize)
	le.PutUint64(ph[40:], programSize)
	le.PutUint64(ph[48:], 0x1000)

	copy(out[codeOff:], code.Bytes())
	// struct kernel_sigaction {handler, flags, restorer, mask}.
	le.PutUint64(out[actExitOff:], base+exitOff)
	le.PutUint64(out[actExitOff+8:], saRestorer)
	le.PutUint64(out[actExitOff+16:], base+exitOff)
	le.PutUint64(out[actIgnOff:], sigIGN)
	return out
}
