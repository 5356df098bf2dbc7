// Package netnsx runs code inside a Linux network namespace without moving the
// rest of the process there.
//
// Go schedules goroutines on any OS thread, and setns(2) changes only the
// calling thread, so the work runs on a fresh goroutine locked to its thread
// while the thread is inside the namespace. Sockets and TUN devices created
// inside fn stay in the namespace.
package netnsx

import (
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// Do runs fn on an OS thread switched into the network namespace open as fd.
// A negative fd runs fn directly in the caller's namespace.
func Do(fd int, fn func() error) error {
	if fd < 0 {
		return fn()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// The thread goes back to its namespace afterwards: it may be the
		// process's main thread, which the runtime never destroys and which
		// tools such as `ip netns pids` take for the whole process.
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open current network namespace: %w", err)
			return
		}
		defer unix.Close(orig)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter network namespace: %w", err)
			return
		}
		err = fn()
		if unix.Setns(orig, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		} // else stay locked: the runtime retires the thread with this goroutine
		errc <- err
	}()
	return <-errc
}

// Open opens a network namespace file such as /var/run/netns/NAME or
// /proc/PID/ns/net and checks that it is one.
func Open(path string) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open network namespace: %w", err)
	}
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &st); err != nil {
		f.Close()
		return nil, fmt.Errorf("stat network namespace %s: %w", path, err)
	}
	if st.Type != unix.NSFS_MAGIC {
		f.Close()
		return nil, fmt.Errorf("%s is not a network namespace", path)
	}
	return f, nil
}
