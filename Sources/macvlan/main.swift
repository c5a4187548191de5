import CNI
import Plugins

PluginRunner.main(MacvlanPlugin())
