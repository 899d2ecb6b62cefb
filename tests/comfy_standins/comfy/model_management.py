"""Stand-in for ``comfy.model_management``: the interrupt flag ComfyUI's Cancel button sets."""

from __future__ import annotations

import threading

interrupt_processing = False
_lock = threading.Lock()


class InterruptProcessingException(Exception):
    pass


def interrupt_current_processing(value=True):
    global interrupt_processing
    with _lock:
        interrupt_processing = value


def processing_interrupted():
    with _lock:
        return interrupt_processing


def throw_exception_if_processing_interrupted():
    global interrupt_processing
    with _lock:
        if interrupt_processing:
            interrupt_processing = False
            raise InterruptProcessingException()
