#include "views/imgui_canvas.h"

#include <imgui.h>
#include <backends/imgui_impl_opengl3.h>

#include <QFile>
#include <QFocusEvent>
#include <QKeyEvent>
#include <QMouseEvent>
#include <QOffscreenSurface>
#include <QOpenGLContext>
#include <QOpenGLFramebufferObject>
#include <QOpenGLFunctions>
#include <QTimer>
#include <QWheelEvent>
#include <chrono>

#include "views/draw/canvas_frame.h"

namespace attnlab {

namespace {

// Frames drawn after an input event: ImGui reacts to some input one frame late.
constexpr int kSettleFrames = 2;
constexpr float kFontPixels = 15.0f;
constexpr const char* kGlslVersion = "#version 130";

// Latin, Latin Extended-A, general punctuation (· – …), arrows.
const ImWchar kGlyphRanges[] = {0x0020, 0x00FF, 0x0100, 0x017F, 0x2000, 0x206F, 0x2190, 0x21FF, 0};

const char* fontPath() {
    static const char* const kCandidates[] = {"/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
                                              "/usr/share/fonts/dejavu/DejaVuSans.ttf"};
    for (const char* p : kCandidates)
        if (QFile::exists(QString::fromUtf8(p))) return p;
    return nullptr;
}

// Fonts rasterised at the device pixel ratio and scaled back, so text stays sharp on HiDPI screens.
void buildFonts(float dpr) {
    ImGuiIO& io = ImGui::GetIO();
    io.Fonts->Clear();
    ImFontConfig config;
    config.OversampleH = 2;
    const char* path = fontPath();
    if (!path || !io.Fonts->AddFontFromFileTTF(path, kFontPixels * dpr, &config, kGlyphRanges)) {
        config.SizePixels = 13.0f * dpr;
        io.Fonts->AddFontDefault(&config);
    }
    io.FontGlobalScale = 1.0f / dpr;
}

ImGuiContext* createImGuiContext(float dpr) {
    ImGuiContext* previous = ImGui::GetCurrentContext();
    ImGuiContext* context = ImGui::CreateContext();
    ImGui::SetCurrentContext(context);
    ImGuiIO& io = ImGui::GetIO();
    io.IniFilename = nullptr;
    io.LogFilename = nullptr;
    io.ConfigFlags |= ImGuiConfigFlags_NavEnableKeyboard;
    for (int k = 0; k < ImGuiKey_COUNT; ++k) io.KeyMap[k] = k;  // our key indices are ImGuiKey values
    ImGui::StyleColorsDark();
    ImGuiStyle& style = ImGui::GetStyle();
    style.WindowRounding = 0;
    style.WindowBorderSize = 0;
    style.WindowPadding = ImVec2(10, 8);
    style.Colors[ImGuiCol_WindowBg] = ImVec4(0.11f, 0.11f, 0.13f, 1.0f);
    buildFonts(dpr);
    ImGui::SetCurrentContext(previous);
    return context;
}

int imguiKey(int qt_key) {
    switch (qt_key) {
        case Qt::Key_Tab: return ImGuiKey_Tab;
        case Qt::Key_Left: return ImGuiKey_LeftArrow;
        case Qt::Key_Right: return ImGuiKey_RightArrow;
        case Qt::Key_Up: return ImGuiKey_UpArrow;
        case Qt::Key_Down: return ImGuiKey_DownArrow;
        case Qt::Key_PageUp: return ImGuiKey_PageUp;
        case Qt::Key_PageDown: return ImGuiKey_PageDown;
        case Qt::Key_Home: return ImGuiKey_Home;
        case Qt::Key_End: return ImGuiKey_End;
        case Qt::Key_Insert: return ImGuiKey_Insert;
        case Qt::Key_Delete: return ImGuiKey_Delete;
        case Qt::Key_Backspace: return ImGuiKey_Backspace;
        case Qt::Key_Space: return ImGuiKey_Space;
        case Qt::Key_Return: return ImGuiKey_Enter;
        case Qt::Key_Enter: return ImGuiKey_KeyPadEnter;
        case Qt::Key_Escape: return ImGuiKey_Escape;
        case Qt::Key_A: return ImGuiKey_A;
        case Qt::Key_C: return ImGuiKey_C;
        case Qt::Key_V: return ImGuiKey_V;
        case Qt::Key_X: return ImGuiKey_X;
        case Qt::Key_Y: return ImGuiKey_Y;
        case Qt::Key_Z: return ImGuiKey_Z;
        default: return -1;
    }
}

int imguiButton(Qt::MouseButton button) {
    switch (button) {
        case Qt::LeftButton: return 0;
        case Qt::RightButton: return 1;
        case Qt::MiddleButton: return 2;
        default: return -1;
    }
}

void setModifiers(ImGuiIO& io, Qt::KeyboardModifiers m) {
    io.KeyCtrl = m.testFlag(Qt::ControlModifier);
    io.KeyShift = m.testFlag(Qt::ShiftModifier);
    io.KeyAlt = m.testFlag(Qt::AltModifier);
    io.KeySuper = m.testFlag(Qt::MetaModifier);
}

}  // namespace

TextureCache::~TextureCache() = default;

ImTextureID TextureCache::texture(int slot, const RgbaImage& image) {
    QOpenGLFunctions* gl = QOpenGLContext::currentContext()->functions();
    Entry& e = m_entries[slot];
    if (e.id != 0 && e.version == image.version) return reinterpret_cast<ImTextureID>(static_cast<intptr_t>(e.id));
    if (e.id == 0) gl->glGenTextures(1, &e.id);
    e.version = image.version;
    gl->glBindTexture(GL_TEXTURE_2D, e.id);
    gl->glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, GL_NEAREST);
    gl->glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, GL_NEAREST);
    gl->glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_S, GL_CLAMP_TO_EDGE);
    gl->glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_T, GL_CLAMP_TO_EDGE);
    gl->glPixelStorei(GL_UNPACK_ALIGNMENT, 1);
    if (image.isEmpty()) {
        const uint8_t black[4] = {0, 0, 0, 255};
        gl->glTexImage2D(GL_TEXTURE_2D, 0, GL_RGBA, 1, 1, 0, GL_RGBA, GL_UNSIGNED_BYTE, black);
    } else {
        gl->glTexImage2D(GL_TEXTURE_2D, 0, GL_RGBA, image.width, image.height, 0, GL_RGBA, GL_UNSIGNED_BYTE,
                         image.pixels.data());
    }
    return reinterpret_cast<ImTextureID>(static_cast<intptr_t>(e.id));
}

void TextureCache::clear() {
    QOpenGLContext* context = QOpenGLContext::currentContext();
    if (context) {
        for (auto& [slot, e] : m_entries)
            if (e.id != 0) context->functions()->glDeleteTextures(1, &e.id);
    }
    m_entries.clear();
}

struct ImGuiCanvas::Impl {
    ImGuiCanvas* self = nullptr;
    ImGuiContext* imgui = nullptr;
    bool is_backend_ready = false;
    float font_dpr = 0;
    int settle_frames = 0;
    int64_t frames_drawn = 0;
    TextureCache textures;
    QMetaObject::Connection context_connection;
    std::chrono::steady_clock::time_point last_frame = std::chrono::steady_clock::now();

    // Makes this canvas's ImGui context current for the scope.
    struct Scope {
        explicit Scope(ImGuiContext* c) : previous(ImGui::GetCurrentContext()) { ImGui::SetCurrentContext(c); }
        ~Scope() { ImGui::SetCurrentContext(previous); }
        ImGuiContext* previous;
    };

    void input() {
        settle_frames = kSettleFrames;
        self->update();
    }

    void releaseGl() {
        if (!is_backend_ready) return;
        self->makeCurrent();
        Scope scope(imgui);
        textures.clear();
        ImGui_ImplOpenGL3_Shutdown();
        is_backend_ready = false;
        self->doneCurrent();
    }

    // One ImGui frame of the canvas's drawing code into the bound framebuffer.
    void drawFrame(const QSize& logical, float dpr, bool is_interactive, TextureCache& cache, double delta_s) {
        ImGuiIO& io = ImGui::GetIO();
        io.DisplaySize = ImVec2(float(logical.width()), float(logical.height()));
        io.DisplayFramebufferScale = ImVec2(dpr, dpr);
        io.DeltaTime = static_cast<float>(delta_s > 1e-4 ? std::min(delta_s, 1.0) : 1.0 / 60.0);
        ImGui_ImplOpenGL3_NewFrame();
        ImGui::NewFrame();
        ImGui::SetNextWindowPos(ImVec2(0, 0));
        ImGui::SetNextWindowSize(io.DisplaySize);
        ImGui::Begin("##canvas", nullptr,
                     ImGuiWindowFlags_NoDecoration | ImGuiWindowFlags_NoMove | ImGuiWindowFlags_NoSavedSettings |
                         ImGuiWindowFlags_NoBringToFrontOnFocus | ImGuiWindowFlags_NoScrollWithMouse |
                         ImGuiWindowFlags_NoNav);
        CanvasFrame frame;
        frame.textures = &cache;
        frame.is_interactive = is_interactive;
        self->drawCanvas(frame);
        ImGui::End();
        ImGui::Render();
        QOpenGLFunctions* gl = QOpenGLContext::currentContext()->functions();
        gl->glViewport(0, 0, static_cast<int>(logical.width() * dpr), static_cast<int>(logical.height() * dpr));
        const ImVec4 bg = ImGui::GetStyle().Colors[ImGuiCol_WindowBg];
        gl->glClearColor(bg.x, bg.y, bg.z, 1.0f);
        gl->glClear(GL_COLOR_BUFFER_BIT);
        ImGui_ImplOpenGL3_RenderDrawData(ImGui::GetDrawData());
    }
};

ImGuiCanvas::ImGuiCanvas(QWidget* parent) : QOpenGLWidget(parent), m_impl(std::make_unique<Impl>()) {
    m_impl->self = this;
    m_impl->imgui = createImGuiContext(static_cast<float>(devicePixelRatioF()));
    m_impl->font_dpr = static_cast<float>(devicePixelRatioF());
    setFocusPolicy(Qt::StrongFocus);
    setMouseTracking(true);
    setMinimumSize(160, 120);
}

ImGuiCanvas::~ImGuiCanvas() {
    m_impl->releaseGl();
    ImGui::DestroyContext(m_impl->imgui);
}

void ImGuiCanvas::requestRepaint() {
    m_impl->settle_frames = kSettleFrames;
    update();
}

int64_t ImGuiCanvas::framesDrawn() const { return m_impl->frames_drawn; }

void ImGuiCanvas::initializeGL() {
    // Called again when the widget moves to another top-level (floating docks): start afresh.
    Impl::Scope scope(m_impl->imgui);
    if (m_impl->is_backend_ready) {
        m_impl->textures.forget();
        ImGui_ImplOpenGL3_Shutdown();
    }
    ImGui_ImplOpenGL3_Init(kGlslVersion);
    m_impl->is_backend_ready = true;
    QObject::disconnect(m_impl->context_connection);
    m_impl->context_connection =
        connect(context(), &QOpenGLContext::aboutToBeDestroyed, this, [this] { m_impl->releaseGl(); });
}

void ImGuiCanvas::paintGL() {
    if (!m_impl->is_backend_ready) return;
    Impl::Scope scope(m_impl->imgui);
    const auto dpr = static_cast<float>(devicePixelRatioF());
    if (dpr != m_impl->font_dpr) {
        buildFonts(dpr);
        ImGui_ImplOpenGL3_DestroyFontsTexture();
        ImGui_ImplOpenGL3_CreateFontsTexture();
        m_impl->font_dpr = dpr;
    }
    const auto now = std::chrono::steady_clock::now();
    const double delta_s = std::chrono::duration<double>(now - m_impl->last_frame).count();
    m_impl->last_frame = now;
    m_impl->drawFrame(size(), dpr, true, m_impl->textures, delta_s);
    ++m_impl->frames_drawn;
    if (m_impl->settle_frames > 0) {
        --m_impl->settle_frames;
        QTimer::singleShot(0, this, [this] { update(); });
    }
}

QImage ImGuiCanvas::renderOffscreen(const QSize& size, QString* error) {
    auto fail = [error](const QString& message) {
        if (error) *error = message;
        return QImage();
    };
    if (size.isEmpty()) return fail(QStringLiteral("figure size is empty"));
    QOpenGLContext* previous_context = QOpenGLContext::currentContext();
    QSurface* previous_surface = previous_context ? previous_context->surface() : nullptr;

    QOffscreenSurface surface;
    surface.setFormat(QSurfaceFormat::defaultFormat());
    surface.create();
    if (!surface.isValid()) return fail(QStringLiteral("no offscreen OpenGL surface on this platform"));
    QOpenGLContext context;
    context.setShareContext(QOpenGLContext::globalShareContext());
    context.setFormat(QSurfaceFormat::defaultFormat());
    if (!context.create()) return fail(QStringLiteral("cannot create an OpenGL context (the platform has no OpenGL?)"));
    if (!context.makeCurrent(&surface)) return fail(QStringLiteral("cannot make the OpenGL context current"));

    QImage image;
    {
        QOpenGLFramebufferObject fbo(size, QOpenGLFramebufferObject::CombinedDepthStencil);
        if (!fbo.isValid()) {
            context.doneCurrent();
            return fail(QStringLiteral("cannot create a %1x%2 framebuffer").arg(size.width()).arg(size.height()));
        }
        fbo.bind();
        ImGuiContext* imgui = createImGuiContext(1.0f);
        {
            Impl::Scope scope(imgui);
            ImGui_ImplOpenGL3_Init(kGlslVersion);
            TextureCache cache;
            // Two frames: windows and fonts settle on the first; the second is the picture.
            for (int pass = 0; pass < 2; ++pass) m_impl->drawFrame(size, 1.0f, false, cache, 1.0 / 60.0);
            context.functions()->glFinish();
            image = fbo.toImage().convertToFormat(QImage::Format_RGB32);  // top row first
            cache.clear();
            ImGui_ImplOpenGL3_Shutdown();
        }
        ImGui::DestroyContext(imgui);
        fbo.release();
    }
    context.doneCurrent();
    if (previous_context) previous_context->makeCurrent(previous_surface);
    if (image.isNull()) return fail(QStringLiteral("reading the framebuffer back failed"));
    return image;
}

void ImGuiCanvas::mousePressEvent(QMouseEvent* event) {
    Impl::Scope scope(m_impl->imgui);
    ImGuiIO& io = ImGui::GetIO();
    io.MousePos = ImVec2(float(event->position().x()), float(event->position().y()));
    const int b = imguiButton(event->button());
    if (b >= 0) io.MouseDown[b] = true;
    setModifiers(io, event->modifiers());
    m_impl->input();
}

void ImGuiCanvas::mouseReleaseEvent(QMouseEvent* event) {
    Impl::Scope scope(m_impl->imgui);
    ImGuiIO& io = ImGui::GetIO();
    io.MousePos = ImVec2(float(event->position().x()), float(event->position().y()));
    const int b = imguiButton(event->button());
    if (b >= 0) io.MouseDown[b] = false;
    setModifiers(io, event->modifiers());
    m_impl->input();
}

void ImGuiCanvas::mouseDoubleClickEvent(QMouseEvent* event) {
    // ImGui detects double clicks itself from two presses.
    mousePressEvent(event);
}

void ImGuiCanvas::mouseMoveEvent(QMouseEvent* event) {
    Impl::Scope scope(m_impl->imgui);
    ImGuiIO& io = ImGui::GetIO();
    io.MousePos = ImVec2(float(event->position().x()), float(event->position().y()));
    m_impl->input();
}

void ImGuiCanvas::wheelEvent(QWheelEvent* event) {
    Impl::Scope scope(m_impl->imgui);
    ImGuiIO& io = ImGui::GetIO();
    io.MousePos = ImVec2(float(event->position().x()), float(event->position().y()));
    const QPoint angle = event->angleDelta();  // 120 per notch
    io.MouseWheel += float(angle.y()) / 120.0f;
    io.MouseWheelH += float(angle.x()) / 120.0f;
    setModifiers(io, event->modifiers());
    event->accept();
    m_impl->input();
}

void ImGuiCanvas::keyPressEvent(QKeyEvent* event) {
    Impl::Scope scope(m_impl->imgui);
    ImGuiIO& io = ImGui::GetIO();
    setModifiers(io, event->modifiers());
    const int k = imguiKey(event->key());
    if (k >= 0) io.KeysDown[k] = true;
    const QString text = event->text();
    for (const QChar c : text)
        if (c.isPrint()) io.AddInputCharacterUTF16(c.unicode());
    m_impl->input();
}

void ImGuiCanvas::keyReleaseEvent(QKeyEvent* event) {
    Impl::Scope scope(m_impl->imgui);
    ImGuiIO& io = ImGui::GetIO();
    setModifiers(io, event->modifiers());
    const int k = imguiKey(event->key());
    if (k >= 0) io.KeysDown[k] = false;
    m_impl->input();
}

void ImGuiCanvas::focusInEvent(QFocusEvent* event) {
    Impl::Scope scope(m_impl->imgui);
    ImGui::GetIO().AddFocusEvent(true);
    QOpenGLWidget::focusInEvent(event);
    m_impl->input();
}

void ImGuiCanvas::focusOutEvent(QFocusEvent* event) {
    Impl::Scope scope(m_impl->imgui);
    ImGuiIO& io = ImGui::GetIO();
    io.AddFocusEvent(false);  // also releases held keys and buttons
    for (bool& down : io.MouseDown) down = false;
    QOpenGLWidget::focusOutEvent(event);
    m_impl->input();
}

void ImGuiCanvas::leaveEvent(QEvent* event) {
    Impl::Scope scope(m_impl->imgui);
    ImGui::GetIO().MousePos = ImVec2(-FLT_MAX, -FLT_MAX);
    QOpenGLWidget::leaveEvent(event);
    m_impl->input();
}

}  // namespace attnlab
