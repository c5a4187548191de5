// libcni-driver runs a network config list through libcni, the library inside Podman,
// containerd and CRI-O, so that the tests see our plugins the way those runtimes drive them:
// VERSION checks, runtimeConfig injection, result caching, version conversion, CHECK and DEL
// with the cached result.
//
//	libcni-driver add|check|del CONFLIST NETNS CONTAINER_ID IFNAME BIN_DIR CACHE_DIR
//
// CAP_ARGS, when set, is a JSON object of capability arguments (e.g. {"portMappings": [...]}),
// handed to the plugins that declare those capabilities, as runtimes do.
// ADD prints the result as JSON. Errors go to stderr with exit status 1.
// Built offline against Debian's golang-github-appc-cni-dev (see LibcniInteropTests).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/containernetworking/cni/libcni"
)

func main() {
	if len(os.Args) != 8 {
		fmt.Fprintln(os.Stderr, "usage: libcni-driver add|check|del CONFLIST NETNS CONTAINER_ID IFNAME BIN_DIR CACHE_DIR")
		os.Exit(2)
	}
	verb, listPath, netns, containerID, ifName, binDir, cacheDir := os.Args[1], os.Args[2], os.Args[3], os.Args[4], os.Args[5], os.Args[6], os.Args[7]
	list, err := libcni.ConfListFromFile(listPath)
	if err != nil {
		fail("reading %s: %v", listPath, err)
	}
	cni := libcni.NewCNIConfigWithCacheDir([]string{binDir}, cacheDir, nil)
	runtime := &libcni.RuntimeConf{
		ContainerID: containerID,
		NetNS:       netns,
		IfName:      ifName,
		Args:        [][2]string{{"IgnoreUnknown", "1"}, {"K8S_POD_NAME", "pod-" + containerID}},
	}
	if caps := os.Getenv("CAP_ARGS"); caps != "" {
		if err := json.Unmarshal([]byte(caps), &runtime.CapabilityArgs); err != nil {
			fail("CAP_ARGS: %v", err)
		}
	}
	ctx := context.Background()
	switch verb {
	case "add":
		result, err := cni.AddNetworkList(ctx, list, runtime)
		if err != nil {
			fail("ADD: %v", err)
		}
		out, err := json.Marshal(result)
		if err != nil {
			fail("printing the result: %v", err)
		}
		fmt.Println(string(out))
	case "check":
		if err := cni.CheckNetworkList(ctx, list, runtime); err != nil {
			fail("CHECK: %v", err)
		}
	case "del":
		if err := cni.DelNetworkList(ctx, list, runtime); err != nil {
			fail("DEL: %v", err)
		}
	default:
		fail("unknown verb %q", verb)
	}
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}
