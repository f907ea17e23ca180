/*
 * report_svg.c - the report's charts as inline SVG, and HTML escaping.
 *
 * Charts are drawn from numbers the caller computed; nothing here knows a
 * model.  Sizes are in CSS pixels, text in the page's font.
 */
#include "report.h"

#include <math.h>
#include <string.h>

const char *report_escape(const char *s)
{
    size_t n = 0;
    for (const char *p = s; *p; p++)
        n += strchr("&<>'\"", *p) ? 6 : 1;
    char *out = tfc_alloc(n + 1), *o = out;
    for (const char *p = s; *p; p++) {
        const char *e = *p == '&' ? "&amp;" : *p == '<' ? "&lt;" : *p == '>' ? "&gt;"
                      : *p == '\'' ? "&#39;" : *p == '"' ? "&quot;" : NULL;
        if (e) {
            memcpy(o, e, strlen(e));
            o += strlen(e);
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return out;
}

#define BAR_W 640
#define BAR_LABEL 120
#define BAR_ROW 22

void report_bar_chart(FILE *out, const char *title, const ReportBar *bars, int n,
                      const char *(*fmt)(double))
{
    double top = 0;
    for (int i = 0; i < n; i++)
        if (bars[i].value > top)
            top = bars[i].value;
    int h = 30 + n * BAR_ROW + 8;
    fprintf(out, "<svg class='chart' width='%d' height='%d' viewBox='0 0 %d %d' role='img'>"
                 "<title>%s</title>\n", BAR_W, h, BAR_W, h, report_escape(title));
    fprintf(out, "<text x='0' y='16' class='ct'>%s</text>\n", report_escape(title));
    double span = BAR_W - BAR_LABEL - 150;
    for (int i = 0; i < n; i++) {
        double w = top > 0 ? span * bars[i].value / top : 0;
        int y = 28 + i * BAR_ROW;
        fprintf(out, "<text x='%d' y='%d' text-anchor='end'>%s</text>", BAR_LABEL - 6, y + 14,
                report_escape(bars[i].label));
        fprintf(out, "<rect x='%d' y='%d' width='%.1f' height='%d' fill='#7aa6da'/>", BAR_LABEL, y + 2,
                w < 1 && bars[i].value > 0 ? 1 : w, BAR_ROW - 6);
        fprintf(out, "<text x='%.1f' y='%d'>%s</text>\n", BAR_LABEL + w + 6, y + 14,
                report_escape(fmt(bars[i].value)));
    }
    fprintf(out, "</svg>\n");
}

#define LINE_W 420
#define LINE_H 260
#define LINE_L 70
#define LINE_R 14
#define LINE_T 28
#define LINE_B 44

typedef struct {
    double x0, x1, y0, y1;
    int logy;
} Axes;

static double px(const Axes *a, double x)
{
    return LINE_L + (LINE_W - LINE_L - LINE_R) * (x - a->x0) / (a->x1 > a->x0 ? a->x1 - a->x0 : 1);
}

static double py(const Axes *a, double y)
{
    double lo = a->logy ? log10(a->y0) : a->y0, hi = a->logy ? log10(a->y1) : a->y1;
    double v = a->logy ? log10(y > a->y0 ? y : a->y0) : y;
    return LINE_H - LINE_B - (LINE_H - LINE_T - LINE_B) * (v - lo) / (hi > lo ? hi - lo : 1);
}

static Axes axes_of(const double *xs, int n, const ReportSeries *series, int nseries)
{
    Axes a = {xs[0], xs[n - 1], INFINITY, 0, 0};
    for (int s = 0; s < nseries; s++)
        for (int i = 0; i < n; i++) {
            if (series[s].y[i] > a.y1)
                a.y1 = series[s].y[i];
            if (series[s].y[i] > 0 && series[s].y[i] < a.y0)
                a.y0 = series[s].y[i];
        }
    if (!isfinite(a.y0))
        a.y0 = 1;
    a.logy = a.y1 > 100 * a.y0;
    if (!a.logy)
        a.y0 = 0;
    if (a.y1 <= a.y0)
        a.y1 = a.y0 + 1;
    return a;
}

static void line_axes(FILE *out, const Axes *a, const char *xlabel, const double *xs, int n,
                      const char *(*fmt)(double))
{
    int bottom = LINE_H - LINE_B;
    fprintf(out, "<rect x='%d' y='%d' width='%d' height='%d' fill='none' stroke='#999'/>\n", LINE_L,
            LINE_T, LINE_W - LINE_L - LINE_R, bottom - LINE_T);
    for (int k = 0; k <= 4; k++) {
        double y = a->logy ? pow(10, log10(a->y0) + (log10(a->y1) - log10(a->y0)) * k / 4)
                           : a->y0 + (a->y1 - a->y0) * k / 4;
        fprintf(out, "<text x='%d' y='%.1f' text-anchor='end' class='ax'>%s</text>", LINE_L - 4,
                py(a, y) + 4, report_escape(fmt(y)));
    }
    for (int i = 0; i < n; i++)
        fprintf(out, "<text x='%.1f' y='%d' text-anchor='middle' class='ax'>%g</text>", px(a, xs[i]),
                bottom + 14, xs[i]);
    fprintf(out, "\n<text x='%d' y='%d' text-anchor='middle'>%s</text>\n",
            LINE_L + (LINE_W - LINE_L - LINE_R) / 2, bottom + 32, report_escape(xlabel));
}

void report_line_chart(FILE *out, const char *title, const char *xlabel, const double *xs, int n,
                       double mark, const ReportSeries *series, int nseries,
                       const char *(*fmt)(double))
{
    Axes a = axes_of(xs, n, series, nseries);
    fprintf(out, "<svg class='chart' width='%d' height='%d' viewBox='0 0 %d %d' role='img'>"
                 "<title>%s</title>\n", LINE_W, LINE_H, LINE_W, LINE_H, report_escape(title));
    fprintf(out, "<text x='0' y='16' class='ct'>%s%s</text>\n", report_escape(title),
            a.logy ? " (log scale)" : "");
    line_axes(out, &a, xlabel, xs, n, fmt);
    fprintf(out, "<line x1='%.1f' y1='%d' x2='%.1f' y2='%d' stroke='red' stroke-dasharray='4 3'/>\n",
            px(&a, mark), LINE_T, px(&a, mark), LINE_H - LINE_B);
    for (int s = 0; s < nseries; s++) {
        fprintf(out, "<polyline fill='none' stroke='%s' stroke-width='2' points='", series[s].colour);
        for (int i = 0; i < n; i++)
            fprintf(out, "%.1f,%.1f ", px(&a, xs[i]), py(&a, series[s].y[i]));
        fprintf(out, "'/>\n");
        for (int i = 0; i < n; i++)
            fprintf(out, "<circle cx='%.1f' cy='%.1f' r='3' fill='%s'><title>%s at %g: %s</title>"
                         "</circle>", px(&a, xs[i]), py(&a, series[s].y[i]), series[s].colour,
                    report_escape(series[s].name), xs[i], report_escape(fmt(series[s].y[i])));
        fprintf(out, "<rect x='%d' y='%d' width='10' height='10' fill='%s'/><text x='%d' y='%d' "
                     "class='ax'>%s</text>\n", LINE_L + 6, LINE_T + 6 + 14 * s, series[s].colour,
                LINE_L + 20, LINE_T + 15 + 14 * s, report_escape(series[s].name));
    }
    fprintf(out, "</svg>\n");
}
