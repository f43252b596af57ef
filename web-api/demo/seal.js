// A sample round seal (电子印章) drawn on a canvas: a red ring, a star and
// the organization's name along the top. Returns a PNG data URL.
export function drawSeal(name, size = 200) {
  const c = document.createElement('canvas');
  c.width = c.height = size;
  const g = c.getContext('2d');
  const r = size / 2;
  g.strokeStyle = g.fillStyle = '#d22';
  g.lineWidth = size / 28;
  g.beginPath();
  g.arc(r, r, r - g.lineWidth, 0, 2 * Math.PI);
  g.stroke();
  star(g, r, r, size / 7);
  arcText(g, name, r, r, r * 0.72, size / 9);
  return c.toDataURL('image/png');
}

function star(g, x, y, outer) {
  g.beginPath();
  for (let i = 0; i < 10; i++) {
    const rad = i % 2 ? outer * 0.4 : outer;
    const a = -Math.PI / 2 + (i * Math.PI) / 5;
    g.lineTo(x + rad * Math.cos(a), y + rad * Math.sin(a));
  }
  g.closePath();
  g.fill();
}

function arcText(g, text, x, y, radius, fontSize) {
  const chars = Array.from(text);
  const span = Math.PI * 1.25;
  g.font = `bold ${fontSize}px sans-serif`;
  g.textAlign = 'center';
  g.textBaseline = 'middle';
  chars.forEach((ch, i) => {
    const a = -Math.PI / 2 - span / 2 + (span * (i + 0.5)) / chars.length;
    g.save();
    g.translate(x + radius * Math.cos(a), y + radius * Math.sin(a));
    g.rotate(a + Math.PI / 2);
    g.fillText(ch, 0, 0);
    g.restore();
  });
}
