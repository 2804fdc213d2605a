// The upload panel of a data source: drag-and-drop or pick a file, preview how it would
// import, or send it with an upload progress bar and hand the new import batch to htmx,
// which polls its progress.
(function () {
  "use strict";

  function formatSize(bytes) {
    var units = ["bytes", "KB", "MB", "GB", "TB"];
    var size = bytes;
    var unit = 0;
    while (size >= 1024 && unit < units.length - 1) {
      size /= 1024;
      unit += 1;
    }
    return (unit === 0 ? size : size.toFixed(1)) + " " + units[unit];
  }

  function setup(form) {
    var zone = form.querySelector("[data-dropzone]");
    var input = form.querySelector("input[type=file]");
    var fileName = form.querySelector("[data-file-name]");
    var button = form.querySelector("[data-upload-button]");
    var progress = form.querySelector("[data-upload-progress]");
    var bar = form.querySelector("[data-upload-bar]");
    var label = form.querySelector("[data-upload-label]");
    var problem = form.querySelector("[data-upload-error]");
    var target = document.querySelector("[data-import-progress]");
    var previewButton = form.querySelector("[data-preview-button]");
    var previewTarget = document.querySelector("[data-preview-target]");
    var chosen = null;

    function choose(file) {
      chosen = file || null;
      zone.classList.toggle("has-file", !!chosen);
      fileName.textContent = chosen ? chosen.name + " · " + formatSize(chosen.size) : "";
      buttons(!!chosen);
      problem.hidden = true;
      if (previewTarget) previewTarget.innerHTML = "";
    }

    function buttons(enabled) {
      button.disabled = !enabled;
      previewButton.disabled = !enabled;
    }

    input.addEventListener("change", function () {
      choose(input.files[0]);
    });
    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (event) {
        event.preventDefault();
        zone.classList.add("is-dragover");
      });
    });
    ["dragleave", "dragend", "drop"].forEach(function (name) {
      zone.addEventListener(name, function () {
        zone.classList.remove("is-dragover");
      });
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      var files = event.dataTransfer && event.dataTransfer.files;
      if (files && files.length) {
        choose(files[0]);
      }
    });

    function fail(message) {
      problem.textContent = message;
      problem.hidden = false;
      progress.hidden = true;
      buttons(!!chosen);
    }

    // Send the form with the chosen file to `url`; `done(xhr)` handles any answer the
    // server gave, the rest (network, session ended, HTTP errors in JSON) is handled here.
    function send(url, responseType, done) {
      if (!chosen) {
        fail("Choose a file first.");
        return;
      }
      var body = new FormData(form);
      body.set("file", chosen, chosen.name);
      var xhr = new XMLHttpRequest();
      xhr.open("POST", url);
      xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
      xhr.responseType = responseType;
      xhr.upload.onprogress = function (e) {
        if (!e.lengthComputable) return;
        var percent = Math.round((e.loaded / e.total) * 100);
        bar.style.width = percent + "%";
        label.textContent = percent < 100
          ? "Uploading… " + percent + "% of " + formatSize(e.total)
          : "Uploaded, reading the file…";
      };
      xhr.onload = function () {
        if (xhr.responseURL && xhr.responseURL.indexOf("/login/") !== -1) {
          fail("Your session has ended: reload the page and log in again.");
          return;
        }
        var isJson = (xhr.getResponseHeader("Content-Type") || "").indexOf("json") !== -1;
        if (xhr.status >= 400 || (responseType === "json" && !isJson)) {
          var answer = null;
          try {
            answer = typeof xhr.response === "string" ? JSON.parse(xhr.response) : xhr.response;
          } catch (ignored) {
            answer = null;
          }
          if (answer && answer.error) {
            fail(answer.error.message);
          } else if (xhr.status === 403) {
            fail("You may not import here, or the page is stale: reload it and try again.");
          } else {
            fail("The upload failed (HTTP " + xhr.status + ").");
          }
          return;
        }
        progress.hidden = true;
        buttons(!!chosen);
        done(xhr);
      };
      xhr.onerror = function () {
        fail("The upload was interrupted: check the connection and try again.");
      };
      problem.hidden = true;
      progress.hidden = false;
      bar.style.width = "0%";
      label.textContent = "Uploading…";
      buttons(false);
      xhr.send(body);
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      send(form.action, "json", function (xhr) {
        var answer = xhr.response;
        input.value = "";  // keep the chosen options for the next file
        choose(null);
        previewTarget.innerHTML = "";
        var holder = document.createElement("div");
        holder.setAttribute("hx-get", answer.progress_url);
        holder.setAttribute("hx-trigger", "load");
        holder.setAttribute("hx-swap", "outerHTML");
        target.prepend(holder);
        target.scrollIntoView({ behavior: "smooth", block: "nearest" });
        if (window.htmx) {
          window.htmx.process(holder);
        } else {
          window.location.href = answer.url;
        }
      });
    });

    previewButton.addEventListener("click", function () {
      send(previewButton.getAttribute("data-preview-url"), "text", function (xhr) {
        previewTarget.innerHTML = xhr.responseText;
        previewTarget.scrollIntoView({ behavior: "smooth", block: "start" });
      });
    });
  }

  document.querySelectorAll("form[data-upload]").forEach(setup);
})();
