#version 330 core
// Expands each visible splat (a point from the vertex shader) into the polygon that covers its
// ellipse (ALGORITHMS.md §6.2 step 7): corner = centre + u a1 + v a2, in pixels, then to clip space.
// On llvmpipe triangle setup costs about as much as 50 covered pixels, so small splats get one
// circumscribed triangle (5.2 |a1||a2| px^2) and larger ones the quad (u, v in {-1, 1}: 4 |a1||a2|).
layout(points) in;
layout(triangle_strip, max_vertices = 4) out;

uniform vec2 u_size;  // target width, height in pixels
const float SMALL_AREA = 64.0;  // px^2: |a1| |a2| below which one triangle is cheaper than a quad

in vec4 g_quad0[];  // mean2d.xy, first half-axis.xy
in vec4 g_quad1[];  // second half-axis.xy, visible, opacity
in vec3 g_conic[];
in vec3 g_color[];

flat out vec2 v_mean2d;
flat out vec3 v_conic;
flat out vec3 v_color;
flat out float v_opacity;

void corner(vec2 p) {
    gl_Position = vec4(2.0 * p.x / u_size.x - 1.0, 1.0 - 2.0 * p.y / u_size.y, 0.0, 1.0);
    v_mean2d = g_quad0[0].xy;
    v_conic = g_conic[0];
    v_color = g_color[0];
    v_opacity = g_quad1[0].w;
    EmitVertex();
}

void main() {
    if (g_quad1[0].z < 0.5) return;  // culled
    vec2 m = g_quad0[0].xy, a1 = g_quad0[0].zw, a2 = g_quad1[0].xy;
    if (length(a1) * length(a2) < SMALL_AREA) {
        corner(m + 2.0 * a2);
        corner(m - 1.7320508075688772 * a1 - a2);
        corner(m + 1.7320508075688772 * a1 - a2);
    } else {
        corner(m - a1 - a2);
        corner(m + a1 - a2);
        corner(m - a1 + a2);
        corner(m + a1 + a2);
    }
    EndPrimitive();
}
