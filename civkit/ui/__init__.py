"""The gradio UI (the A1111/Forge tab and ``civkit ui``): the only place civkit imports gradio."""
