import CNI
import Plugins

PluginRunner.main(IpvlanPlugin())
