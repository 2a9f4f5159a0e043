/// <reference types="@fastly/js-compute" />
// Never answers: spins until the platform stops it at its CPU limit.
addEventListener("fetch", () => {
  for (;;) {}
});
