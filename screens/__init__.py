"""licwiz.screens: one Screen per wizard step, one ModalScreen per dialog.

Contract for step screens (also for the offline helper, who replaces the four
placeholders file_request.py, file_install.py, phone_codes.py and
phone_response.py):

- Subclass ``screens.base.StepScreen``; keep the class name the App looks up
  (``app/wizard.py`` ``STEP_SCREENS``): ``FileRequestStep``, ``FileInstallStep``,
  ``PhoneCodesStep``, ``PhoneResponseStep``; set ``STEP`` to the step name.
- Yield the step's widgets from ``compose_body()``; read initial values from
  ``self.state`` (a ``WizardState``; screens are built fresh on every visit)
  and write them back in ``save()`` (called before Next, Back and rail moves).
  Offline data has fields ready: ``state.request_file``, ``state.license_file``,
  ``state.phone_response`` (add more only via the wizard owner).
- Next is enabled when ``can_go_next()`` is true (default: no ``errors()``);
  override ``errors()`` to return ``{widget_id: message}``; a
  ``Static(id="err-<widget_id>", classes="field-error")`` under a field shows
  its message as it is typed.
- Async work: ``self.wizard.params()`` (fingerprint, collected once at start),
  ``self.wizard.keyring()``, ``self.wizard.build_request(method="file")``,
  ``self.wizard.center_client()``, ``self.wizard.server_target()``;
  ``state.install_scope`` / ``state.scope`` say where to install.
- When the license is installed, set ``state.result = Result(...)`` and call
  ``self.wizard.go_next("final")``. On failure set ``state.error =
  ErrorInfo.from_exception(exc, step=...)`` and show ``ErrorDialog`` (View
  error description) and a button that calls ``self.wizard.go_next("method")``
  (Select another license acquisition method).
- Never keep a screen instance; never ``await dismiss()`` in its own handler;
  query with ``self.query_one``.
"""
