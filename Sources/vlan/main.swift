import CNI
import Plugins

PluginRunner.main(VlanPlugin())
