#!/usr/bin/python3
"""A kubelet's few CRI calls (runtime.v1.RuntimeService over gRPC on a unix socket) for the
portmap tests: RunPodSandbox with port mappings, PodSandboxStatus, StopPodSandbox,
RemovePodSandbox. The messages are encoded here by hand (protobuf wire format) with the field
numbers of k8s.io/cri-api's api.proto, so only python3-grpcio is needed.

  cri-client.py SOCKET run NAME HOST_PORT:CONTAINER_PORT[/tcp|/udp] ...   prints the sandbox id
  cri-client.py SOCKET ip|stop|remove SANDBOX_ID
"""
import sys

import grpc

PROTOCOLS = {"tcp": 0, "udp": 1, "sctp": 2}


def varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field(number, wire_type, payload):
    """One field: its key (number << 3 | type), then a varint or a length-delimited payload."""
    key = varint(number << 3 | wire_type)
    if wire_type == 0:
        return key + varint(payload)
    return key + varint(len(payload)) + payload


def text(number, value):
    return field(number, 2, value.encode())


def message(number, payload):
    return field(number, 2, payload)


def fields(data):
    """(number, value) of each field of a message: ints for varints, bytes otherwise."""
    position = 0
    while position < len(data):
        key, position = read_varint(data, position)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, position = read_varint(data, position)
        elif wire_type == 2:
            length, position = read_varint(data, position)
            value, position = data[position:position + length], position + length
        elif wire_type == 1:
            value, position = data[position:position + 8], position + 8
        elif wire_type == 5:
            value, position = data[position:position + 4], position + 4
        else:
            raise ValueError("wire type %d" % wire_type)
        yield number, value


def read_varint(data, position):
    result, shift = 0, 0
    while True:
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7


def call(socket, method, request):
    channel = grpc.insecure_channel("unix://" + socket)
    stub = channel.unary_unary("/runtime.v1.RuntimeService/" + method)
    return stub(request, timeout=120)


def main():
    socket, verb = sys.argv[1], sys.argv[2]
    if verb == "run":
        name = sys.argv[3]
        # PodSandboxMetadata: name 1, uid 2, namespace 3, attempt 4.
        metadata = text(1, name) + text(2, "uid-" + name) + text(3, "default")
        config = message(1, metadata) + text(2, name)
        for spec in sys.argv[4:]:
            ports, _, protocol = spec.partition("/")
            host, container = (int(port) for port in ports.split(":"))
            # PortMapping: protocol 1, container_port 2, host_port 3.
            mapping = field(1, 0, PROTOCOLS[protocol or "tcp"]) + field(2, 0, container) + field(3, 0, host)
            config += message(5, mapping)  # PodSandboxConfig.port_mappings
        reply = call(socket, "RunPodSandbox", message(1, config))  # RunPodSandboxRequest.config
        print(dict(fields(reply))[1].decode())  # RunPodSandboxResponse.pod_sandbox_id
    elif verb == "ip":
        reply = call(socket, "PodSandboxStatus", text(1, sys.argv[3]))
        status = dict(fields(reply))[1]  # PodSandboxStatusResponse.status
        network = dict(fields(status)).get(5, b"")  # PodSandboxStatus.network
        print(dict(fields(network)).get(1, b"").decode())  # PodSandboxNetworkStatus.ip
    elif verb in ("stop", "remove"):
        call(socket, "StopPodSandbox" if verb == "stop" else "RemovePodSandbox", text(1, sys.argv[3]))
    else:
        sys.exit("unknown verb " + verb)


if __name__ == "__main__":
    main()
