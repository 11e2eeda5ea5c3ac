"""Keep single-key window shortcuts out of the widgets that own those keys.

The Edit shortcuts (Delete, H, Ctrl+A, R, 1, [ ...) are window-wide so that they work in the
viewport, on the toolbar and in the panels' buttons. In a text field, a spin box, a combo box or
a list (the Scenes list) the same keys mean something else (Delete removes a character or acts
on the list), so there the guard claims them for the focused widget: Qt asks the focus widget
first (a ShortcutOverride event) and a key it accepts never reaches the shortcut.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (QAbstractItemView, QAbstractSpinBox, QApplication, QComboBox, QLineEdit, QPlainTextEdit,
                               QTextEdit)  # fmt: skip

# widgets that own plain keys: a shortcut's key goes to them while they have the focus
INPUT_WIDGETS = (QLineEdit, QTextEdit, QPlainTextEdit, QAbstractSpinBox, QComboBox, QAbstractItemView)


def _key_combination(event) -> int:
    return event.keyCombination().toCombined()


class InputFocusGuard(QObject):
    """An application event filter: the key sequences in ``keys`` are left to the focus widget
    when it is one of INPUT_WIDGETS (or inside one, as a combo box's line edit is)."""

    def __init__(self, parent: QObject, sequences=()):
        super().__init__(parent)
        self.keys: set[int] = set()
        for seq in sequences:
            self.add(seq)
        QApplication.instance().installEventFilter(self)

    def add(self, sequence: QKeySequence | str) -> None:
        seq = QKeySequence(sequence)
        if seq.count() == 1:
            self.keys.add(seq[0].toCombined())

    def eventFilter(self, obj, event) -> bool:
        if event.type() != QEvent.ShortcutOverride or _key_combination(event) not in self.keys:
            return False
        if owns_keys(QApplication.focusWidget()):
            event.accept()  # the focus widget gets this key as a key press, the shortcut does not fire
            return True
        return False


def owns_keys(widget) -> bool:
    """True when ``widget`` (or a parent up to its window) is a text field, spin box, combo box or list."""
    while widget is not None and not widget.isWindow():
        if isinstance(widget, INPUT_WIDGETS):
            return True
        widget = widget.parentWidget()
    return False
