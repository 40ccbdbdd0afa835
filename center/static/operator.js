// Marks a wrong request row as it is typed (the form also works without this:
// the server names wrong rows by number). Same rule as core/phonecodes.py:
// a row's last digit is the Damm check digit over (row number mod 10) + its digits.
(function () {
  "use strict";
  var T = [
    [0, 3, 1, 7, 5, 9, 8, 6, 4, 2], [7, 0, 9, 2, 1, 5, 4, 8, 6, 3], [4, 2, 0, 6, 8, 7, 1, 3, 5, 9],
    [1, 7, 5, 0, 9, 8, 3, 4, 2, 6], [6, 1, 2, 3, 0, 4, 5, 9, 7, 8], [3, 6, 7, 4, 2, 0, 9, 5, 8, 1],
    [5, 8, 6, 9, 7, 2, 0, 1, 3, 4], [8, 9, 4, 5, 3, 6, 2, 0, 1, 7], [9, 4, 3, 8, 6, 1, 7, 2, 0, 5],
    [2, 5, 8, 1, 4, 3, 6, 7, 9, 0]];
  function valid(rowNo, text) {
    var s = String(rowNo % 10) + text.replace(/[\s\-]+/g, "");
    if (!/^[0-9]+$/.test(s) || s.length < 3) { return false; }
    var x = 0;
    for (var i = 0; i < s.length; i++) { x = T[x][s.charCodeAt(i) - 48]; }
    return x === 0;
  }
  var inputs = document.querySelectorAll("input[data-row]");
  Array.prototype.forEach.call(inputs, function (input) {
    input.addEventListener("input", function () {
      var n = Number(input.getAttribute("data-row"));
      var mark = document.getElementById("mark" + n);
      var digits = input.value.replace(/[\s\-]+/g, "");
      var wrong = digits.length >= 21 && !valid(n, input.value);
      input.parentNode.classList.toggle("bad", wrong);
      input.setAttribute("aria-invalid", wrong ? "true" : "false");
      // The words come from the page, in its language (data-wrong, data-ok on each mark).
      mark.textContent = wrong ? mark.getAttribute("data-wrong") : (digits.length >= 21 ? mark.getAttribute("data-ok") : "");
    });
  });
})();
