/* Logging a visit from a phone: a draft kept on the device, hazard rows, position, photos reduced before sending.
 *
 * The page works without this script (plain form post); with it, the draft survives a reload or a lost connection,
 * photos are reduced to at most 1600 px JPEG in a canvas, and the upload shows its progress.
 */
(function () {
  "use strict";

  var MAX_SIDE = 1600;
  var JPEG_QUALITY = 0.85;
  var prepared = [];        // reduced photos: {file: File, width, height, url}
  var preparing = Promise.resolve();

  function fill(template, values) {
    return String(template || "").replace(/\{(\w+)\}/g, function (_, key) { return key in values ? values[key] : ""; });
  }

  function storage() {
    try { return window.localStorage; } catch (e) { return null; }
  }

  // --- the draft --------------------------------------------------------------------------------------------

  function fields(form) {
    return Array.prototype.filter.call(form.elements, function (el) {
      return el.name && el.name !== "csrf_token" && el.type !== "file" && el.type !== "submit" && el.type !== "button";
    });
  }

  function saveDraft(form) {
    var store = storage();
    if (!store) { return; }
    var values = [];
    fields(form).forEach(function (el) {
      if ((el.type === "radio" || el.type === "checkbox") && !el.checked) { return; }
      values.push([el.name, el.value]);
    });
    // The enterprise picker lists only what the last search found: keep the chosen one's words to show it again.
    var chosen = form.querySelector("input[name=enterprise_id]:checked");
    var label = chosen && chosen.value ? chosen.closest("label") : null;
    var draft = {saved: Date.now(), values: values, enterprise_label: label ? label.textContent.replace(/\s+/g, " ").trim() : ""};
    try { store.setItem(form.dataset.draftKey, JSON.stringify(draft)); } catch (e) { return; }
    status(form, "saved");
  }

  function status(form, which) {
    var line = form.querySelector("#draft-status");
    if (line) { line.textContent = line.dataset[which] || ""; }
    var discard = form.querySelector("#discard-draft");
    if (discard) { discard.hidden = false; }
  }

  function readDraft(form) {
    var store = storage();
    if (!store) { return null; }
    try { return JSON.parse(store.getItem(form.dataset.draftKey) || "null"); } catch (e) { return null; }
  }

  function restoreDraft(form) {
    var draft = readDraft(form);
    if (!draft || !Array.isArray(draft.values)) { return; }
    var prefill = new URLSearchParams(window.location.search).get("enterprise_id");
    var drafted = draft.values.filter(function (pair) { return pair[0] === "enterprise_id"; })[0];
    if (prefill && drafted && drafted[1] && drafted[1] !== prefill) { return; }  // a visit to another enterprise now
    draft.values.forEach(function (pair) {
      var match = /^hazards\[(\d+)\]/.exec(pair[0]);
      if (match) { ensureHazardRow(form, Number(match[1])); }
    });
    draft.values.forEach(function (pair) { setField(form, pair[0], pair[1], draft.enterprise_label); });
    status(form, "restored");
  }

  function setField(form, name, value, label) {
    var els = Array.prototype.filter.call(form.elements, function (el) { return el.name === name; });
    if (name === "enterprise_id" && value && label && !els.some(function (el) { return el.value === value; })) {
      var added = addPickerChoice(form, value, label);
      if (added) { els.push(added); }
    }
    els.forEach(function (el) {
      if (el.type === "radio" || el.type === "checkbox") {
        el.checked = el.value === value;
      } else if (el.tagName === "SELECT") {
        var known = Array.prototype.some.call(el.options, function (o) { return o.value === value; });
        if (!known && value && label) {
          var option = document.createElement("option");
          option.value = value;
          option.textContent = label;
          el.appendChild(option);
        }
        el.value = value;
      } else if (el.type !== "file") {
        el.value = value;
      }
    });
  }

  function addPickerChoice(form, value, label) {
    // The drafted enterprise as one more choice of the picker (built from text: nothing of it is read as markup).
    var list = form.querySelector("#picker-results-enterprise_id");
    if (!list) { return null; }
    var row = document.createElement("label");
    row.className = "choice picker-option";
    var input = document.createElement("input");
    input.type = "radio";
    input.name = "enterprise_id";
    input.value = value;
    row.appendChild(input);
    row.appendChild(document.createTextNode(" " + label));
    var hint = list.querySelector(".hint");
    if (hint) { hint.remove(); }
    list.insertBefore(row, list.querySelector("label"));
    return input;
  }

  function clearDraft(key) {
    var store = storage();
    if (store && key) { store.removeItem(key); }
  }

  // --- hazard rows ------------------------------------------------------------------------------------------

  function nextIndex(form) {
    var rows = form.querySelectorAll("#hazard-rows .hazard-row");
    var highest = -1;
    Array.prototype.forEach.call(rows, function (row) { highest = Math.max(highest, Number(row.dataset.index)); });
    return highest + 1;
  }

  function addHazardRow(form, index) {
    var template = form.querySelector("#hazard-template");
    var html = template.innerHTML.replace(/__i__/g, String(index));
    var holder = document.createElement("div");
    holder.innerHTML = html.trim();
    var row = holder.firstElementChild;
    form.querySelector("#hazard-rows").appendChild(row);
    return row;
  }

  function ensureHazardRow(form, index) {
    if (!form.querySelector('#hazard-rows .hazard-row[data-index="' + index + '"]')) { addHazardRow(form, index); }
  }

  // --- position ---------------------------------------------------------------------------------------------

  function locate(form, button) {
    var line = form.querySelector("#locate-status");
    if (!("geolocation" in navigator)) {
      line.textContent = button.dataset.unsupported;
      return;
    }
    line.textContent = button.dataset.working;
    button.disabled = true;
    navigator.geolocation.getCurrentPosition(function (position) {
      form.querySelector("#f-latitude").value = position.coords.latitude.toFixed(6);
      form.querySelector("#f-longitude").value = position.coords.longitude.toFixed(6);
      line.textContent = fill(button.dataset.done, {m: Math.round(position.coords.accuracy || 0)});
      button.disabled = false;
      saveDraft(form);
    }, function () {
      line.textContent = button.dataset.denied;
      button.disabled = false;
    }, {enableHighAccuracy: true, timeout: 15000, maximumAge: 60000});
  }

  // --- photos -----------------------------------------------------------------------------------------------

  function reduce(file) {
    return new Promise(function (resolve) {
      var url = URL.createObjectURL(file);
      var image = new Image();
      image.onload = function () {
        var scale = Math.min(1, MAX_SIDE / Math.max(image.naturalWidth, image.naturalHeight));
        var width = Math.max(1, Math.round(image.naturalWidth * scale));
        var height = Math.max(1, Math.round(image.naturalHeight * scale));
        var canvas = document.createElement("canvas");
        canvas.width = width;
        canvas.height = height;
        var context = canvas.getContext("2d");
        context.fillStyle = "#fff";  // a transparent PNG becomes a JPEG on white, not on black
        context.fillRect(0, 0, width, height);
        context.drawImage(image, 0, 0, width, height);
        URL.revokeObjectURL(url);
        canvas.toBlob(function (blob) {
          if (!blob) { resolve({file: file, width: image.naturalWidth, height: image.naturalHeight}); return; }
          var name = (file.name || "photo").replace(/\.[^.]*$/, "") + ".jpg";
          resolve({file: new File([blob], name, {type: "image/jpeg"}), width: width, height: height});
        }, "image/jpeg", JPEG_QUALITY);
      };
      image.onerror = function () {  // a format this browser cannot draw: sent as it is
        URL.revokeObjectURL(url);
        resolve({file: file, width: 0, height: 0});
      };
      image.src = url;
    });
  }

  function showPreviews(form) {
    var list = form.querySelector("#photo-previews");
    if (!list) { return; }
    list.textContent = "";
    prepared.forEach(function (photo) {
      var item = document.createElement("li");
      var image = document.createElement("img");
      image.src = photo.url;
      image.alt = photo.file.name;
      var caption = document.createElement("span");
      caption.className = "hint";
      caption.textContent = photo.width ? photo.width + "×" + photo.height + " · " + Math.round(photo.file.size / 1024) + " KB"
        : Math.round(photo.file.size / 1024) + " KB";
      item.appendChild(image);
      item.appendChild(caption);
      list.appendChild(item);
    });
  }

  function choosePhotos(form, input) {
    prepared.forEach(function (photo) { URL.revokeObjectURL(photo.url); });
    prepared = [];
    var files = Array.prototype.slice.call(input.files || []);
    preparing = Promise.all(files.map(reduce)).then(function (photos) {
      prepared = photos.map(function (photo) { photo.url = URL.createObjectURL(photo.file); return photo; });
      form.dataset.photosReady = String(prepared.length);
      showPreviews(form);
    });
  }

  // --- sending ----------------------------------------------------------------------------------------------

  function send(form) {
    var button = form.querySelector("button[type=submit]");
    var box = form.querySelector("#upload");
    var bar = form.querySelector("#upload-progress");
    var line = form.querySelector("#upload-status");
    button.disabled = true;
    preparing.then(function () {
      var data = new FormData(form);
      data.delete("photos");
      data.delete("enterprise_q");
      prepared.forEach(function (photo) { data.append("photos", photo.file, photo.file.name); });
      var request = new XMLHttpRequest();
      request.open("POST", form.action);
      request.setRequestHeader("HX-Request", "true");
      request.setRequestHeader("X-CSRF-Token", form.querySelector("input[name=csrf_token]").value);
      box.hidden = false;
      request.upload.onprogress = function (event) {
        if (!event.lengthComputable) { return; }
        var percent = Math.round(event.loaded / event.total * 100);
        bar.value = percent;
        line.textContent = fill(line.dataset.sending, {percent: percent + "%"});
      };
      request.onload = function () { answered(form, request); };
      request.onerror = function () { failed(form); };
      request.send(data);
    });
  }

  function answered(form, request) {
    var target = request.getResponseHeader("HX-Redirect");
    if (request.status === 204 && target) {
      clearDraft(form.dataset.draftKey);
      window.location.assign(target);
      return;
    }
    if (request.status === 422) {
      var holder = document.createElement("div");
      holder.innerHTML = request.responseText;
      var fresh = holder.querySelector("#visit-form");
      if (fresh) {
        form.replaceWith(fresh);
        if (window.htmx) { window.htmx.process(fresh); }
        setUp(fresh);
        showPreviews(fresh);
        saveDraft(fresh);
        var first = fresh.querySelector("[aria-invalid=true]");
        if (first) { first.focus(); }
        return;
      }
    }
    failed(form);
  }

  function failed(form) {
    var line = form.querySelector("#upload-status");
    line.textContent = line.dataset.failed;
    form.querySelector("button[type=submit]").disabled = false;
  }

  // --- wiring -----------------------------------------------------------------------------------------------

  function setUp(form) {
    var timer = null;
    var later = function () { clearTimeout(timer); timer = setTimeout(function () { saveDraft(form); }, 250); };
    form.addEventListener("input", later);
    form.addEventListener("change", function (event) {
      if (event.target.type === "file") { choosePhotos(form, event.target); return; }
      later();
    });
    form.addEventListener("htmx:afterSwap", later);
    form.addEventListener("click", function (event) {
      var remove = event.target.closest("[data-remove-hazard]");
      if (remove) {
        remove.closest(".hazard-row").remove();
        saveDraft(form);
      }
    });
    var add = form.querySelector("#add-hazard");
    add.hidden = false;
    add.addEventListener("click", function () {
      var row = addHazardRow(form, nextIndex(form));
      row.querySelector("input").focus();
    });
    var locateButton = form.querySelector("#locate");
    locateButton.hidden = false;
    locateButton.addEventListener("click", function () { locate(form, locateButton); });
    form.querySelector("#discard-draft").addEventListener("click", function () {
      clearDraft(form.dataset.draftKey);
      window.location.reload();
    });
    form.addEventListener("submit", function (event) {
      if (!window.FormData || !window.XMLHttpRequest) { return; }
      event.preventDefault();
      send(form);
    });
  }

  function start() {
    var saved = document.getElementById("visit-saved");
    if (saved) { clearDraft(saved.dataset.clearDraft); }
    var form = document.getElementById("visit-form");
    if (!form) { return; }
    setUp(form);
    if (form.dataset.hasErrors) {
      saveDraft(form);  // what the server sent back is the latest
    } else {
      restoreDraft(form);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
