import CNI
import IPAM

PluginRunner.main(HostLocalPlugin())
