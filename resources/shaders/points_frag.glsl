#version 330 core
// Opaque round points, premultiplied (alpha 1): under-blending keeps the nearest.
uniform float u_point_size;
flat in vec3 v_color;
out vec4 frag;

void main() {
    if (u_point_size >= 3.0 && length(gl_PointCoord - vec2(0.5)) > 0.5) discard;
    frag = vec4(v_color, 1.0);
}
