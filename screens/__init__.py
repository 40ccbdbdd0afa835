"""licwiz.screens: one Screen per wizard step, one ModalScreen per dialog.

Contract for step screens:

- Subclass ``screens.base.StepScreen``; the App builds it as
  ``cls(controller, step)`` (``app/wizard.py`` ``screen_class`` maps the step
  names of ``app/steps.py`` to classes). A step reads ``self.state`` and
  ``self.config`` (both from the controller) and never reaches the App.
- Yield the step's widgets from ``compose_body()``, reading initial values
  from ``self.state``, and write them back in ``save()`` (called on every
  change, before Next, Back and rail moves).
- Next is enabled when ``can_go_next()`` is true (default: no ``errors()``,
  which are ``app.flow.step_errors``); ``{widget_id: message}`` errors are shown
  under the fields as typed.
- Every decision and every call into core goes through ``self.controller``
  (``app/controller.py``): requests, the center, installs, results, failures.
  Run them in ``@work`` workers so the screen stays responsive.
- Move by posting ``GoNext(step=None)``, ``GoBack(index)``, ``Replace()``,
  ``Finish()`` or ``Cancel(note)`` (``screens.base``): Next pushes a step,
  Back pops it, so a step below keeps its widgets as they were.
- Dialogs take their data as arguments and answer through ``dismiss``; never
  ``await dismiss()`` in a dialog's own handler; query with ``self.query_one``.
"""
