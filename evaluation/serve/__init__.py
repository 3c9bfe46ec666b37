"""``multiarc-eval serve``: the LLM serving sweep against an OpenAI-compatible server (vLLM)."""
