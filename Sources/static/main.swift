import CNI
import IPAM

PluginRunner.main(StaticPlugin())
