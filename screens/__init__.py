"""licwiz.screens: one Screen per wizard step, one ModalScreen per dialog."""
