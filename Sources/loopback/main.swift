import CNI
import Plugins

PluginRunner.main(LoopbackPlugin())
