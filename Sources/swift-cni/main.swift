// The release's one binary: installed under every plugin's name (hard links), it runs the
// plugin it was executed as; under any other name it lists them.
import PluginRegistry

MultiCall.main()
