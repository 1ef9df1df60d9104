"""What moefleet knows about inference engines' own output (llama.cpp logs...)."""
