import CNI
import Plugins

PluginRunner.main(BridgePlugin())
