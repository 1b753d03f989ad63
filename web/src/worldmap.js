// The world map: each country shaded by how much it offers (a log scale), the selected one
// outlined. Countries with offers are buttons (Tab to reach, Enter or Space to choose); a
// country's title says what it offers.
import world from "virtual:world";
import { html } from "./common.js";

const names = new Map(world.shapes.filter((s) => s[0]).map((s) => [s[0], s[1]]));
export const countryName = (code) => names.get(code) || code;

export function WorldMap({ values, selected, onSelect, describe, label }) {
  const max = Math.max(1, ...Object.values(values).map((v) => v || 0));
  const shade = (v) => (v > 0 ? 1 + Math.min(5, Math.floor((Math.log(v + 1) / Math.log(max + 1)) * 5)) : 0);
  const key = (code) => (e) => {
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      onSelect(code);
    }
  };
  return html`<figure class="map">
    <svg viewBox="0 0 ${world.width} ${world.height}" role="group" aria-label=${label}>
      ${world.shapes.map(([code, name, d]) => {
        const v = (code && values[code]) || 0;
        const active = v > 0;
        const cls = `country s${shade(v)}${code === selected ? " selected" : ""}`;
        return active
          ? html`<path d=${d} class=${cls} data-country=${code} tabindex="0" role="button"
              aria-label=${`${name}: ${describe(code)}`} aria-pressed=${code === selected ? "true" : "false"}
              onClick=${() => onSelect(code)} onKeyDown=${key(code)}><title>${name}: ${describe(code)}</title></path>`
          : html`<path d=${d} class=${cls} data-country=${code || undefined} onClick=${() => code && onSelect(code)}><title>${name}</title></path>`;
      })}
    </svg>
    <figcaption class="legend">
      <span>fewer</span>${[1, 2, 3, 4, 5, 6].map((s) => html`<i class=${"country s" + s} aria-hidden="true"></i>`)}<span>more offers</span>
    </figcaption>
  </figure>`;
}
