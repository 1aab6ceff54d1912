// For admins: the latest evaluation reports `rag eval` wrote (GET /v1/eval/reports): each report's summary table and
// its plots (fetched with the bearer credential, shown from blob URLs).

export class Reports {
  constructor(app) {
    this.app = app;
    this.root = document.getElementById('reports');
  }

  async show() {
    this.root.replaceChildren(document.createTextNode('Loading…'));
    let listing;
    try {
      listing = await this.app.api.get('/v1/eval/reports');
    } catch (error) {
      this.root.replaceChildren(document.createTextNode(error.message));
      return;
    }
    this.root.replaceChildren();
    if (!listing.data.length) {
      this.root.append(document.createTextNode('No reports yet: `rag eval retrieval` and `rag eval answers` write them.'));
      return;
    }
    for (const report of listing.data) {
      const section = document.createElement('section');
      section.className = 'card report-card';
      const title = document.createElement('h3');
      title.textContent = `${report.name} (${new Date(report.modified * 1000).toLocaleString()})`;
      section.append(title, ...report.tables.map((t) => this.table(t)));
      for (const image of report.images) {
        const figure = document.createElement('figure');
        const img = document.createElement('img');
        img.alt = `${report.name}: ${image}`;
        const caption = document.createElement('figcaption');
        caption.textContent = image;
        figure.append(img, caption);
        section.append(figure);
        this.app.api.blob(`/v1/eval/reports/${encodeURIComponent(report.name)}/${encodeURIComponent(image)}`)
          .then((blob) => { img.src = URL.createObjectURL(blob); })
          .catch((error) => { caption.textContent = `${image}: ${error.message}`; });
      }
      this.root.append(section);
    }
  }

  table(spec) {
    const table = document.createElement('table');
    const caption = document.createElement('caption');
    caption.textContent = spec.caption;
    const head = document.createElement('thead');
    const headRow = document.createElement('tr');
    for (const column of spec.columns) {
      const th = document.createElement('th');
      th.scope = 'col';
      th.textContent = column;
      headRow.append(th);
    }
    head.append(headRow);
    const body = document.createElement('tbody');
    for (const values of spec.rows) {
      const row = document.createElement('tr');
      values.forEach((value, i) => {
        const td = document.createElement(i === 0 ? 'th' : 'td');
        if (i === 0) td.scope = 'row';
        td.textContent = value === null ? '—' : String(value);
        row.append(td);
      });
      body.append(row);
    }
    table.append(caption, head, body);
    return table;
  }
}
