#version 330 core
// Capture-camera frusta (app/viewport/frusta.py): world-space line end points projected with the
// view's pinhole camera (OpenCV axes, fx fy cx cy in pixels), as homogeneous clip coordinates so
// GL clips each line at the near plane z = NEAR_PLANE (no far plane; depth test is off).
uniform mat3 u_view_rot;   // world -> camera rotation
uniform vec3 u_view_t;     // world -> camera translation
uniform vec4 u_intrinsics; // fx, fy, cx, cy
uniform vec2 u_size;       // target width, height in pixels
uniform vec4 u_override;   // a > 0: draw in this colour (the highlighted camera)

in vec3 in_pos;
in vec3 in_color;
flat out vec3 v_color;

const float NEAR_PLANE = 0.01;

void main() {
    vec3 t = u_view_rot * in_pos + u_view_t;
    // pixel u = fx x / z + cx maps to NDC 2 u / W - 1 (and v to 1 - 2 v / H, as the splats do);
    // multiplied through by w = z. -w <= z_clip <= w holds exactly when z >= NEAR_PLANE.
    float xc = 2.0 * (u_intrinsics.x * t.x + u_intrinsics.z * t.z) / u_size.x - t.z;
    float yc = t.z - 2.0 * (u_intrinsics.y * t.y + u_intrinsics.w * t.z) / u_size.y;
    gl_Position = vec4(xc, yc, t.z - 2.0 * NEAR_PLANE, t.z);
    v_color = u_override.a > 0.0 ? u_override.rgb : in_color;
}
